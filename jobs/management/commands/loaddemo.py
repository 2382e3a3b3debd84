import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from jobs import services
from jobs.models import Job

SAMPLE_JOBS = [
    {
        "name": "Say hello",
        "description": "Prints a greeting every minute.",
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "Hello from CronAdmin"}},
        "schedule": "* * * * *",
    },
    {
        "name": "Short sleeper",
        "description": "Runs for a few seconds every 30 seconds, printing as it goes.",
        "kind": "task",
        "config": {"task": "demo.sleep", "params": {"seconds": 4}},
        "schedule": "@every 30s",
    },
    {
        "name": "Weekday report",
        "description": "A job at 09:00 on weekdays in Berlin time.",
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "Report sent"}},
        "schedule": "0 9 * * 1-5",
        "timezone": "Europe/Berlin",
    },
    {
        "name": "Flaky import",
        "description": "Always fails, and retries twice; paused until someone looks at it.",
        "kind": "task",
        "config": {"task": "demo.fail", "params": {"message": "upstream returned 502"}},
        "schedule": "*/5 * * * *",
        "max_retries": 2,
        "state": "paused",
        "pause_note": "Failing since the upstream change",
    },
    {
        "name": "Prune old runs",
        "description": "Keeps the run ledger small: 30 days, at least 100 runs per job.",
        "kind": "task",
        "config": {"task": "maintenance.prune_runs", "params": {}},
        "schedule": "@daily",
    },
]


class Command(BaseCommand):
    help = "Create a demo administrator (login printed once) and a few sample jobs."

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        if not User.objects.exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@example.com", password)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo administrator created. Log in as: admin / {password}  "
                    "(shown only this once)"
                )
            )
        if not Job.objects.exists():
            for sample in SAMPLE_JOBS:
                services.job_create(actor=None, **sample)
            self.stdout.write(f"Loaded {len(SAMPLE_JOBS)} sample jobs.")
