import sys

from django.core.management.base import BaseCommand, CommandError

from jobs.scheduler.node import SchedulerAlreadyRunning
from jobs.scheduler.process import SchedulerProcess


class Command(BaseCommand):
    help = "Run the scheduler: fires jobs, runs them and keeps the run ledger. One per host."

    def handle(self, *args: object, **options: object) -> None:
        try:
            code = SchedulerProcess().run()
        except SchedulerAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        sys.exit(code)
