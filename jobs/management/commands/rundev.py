import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and the scheduler together (the embedded setup); Ctrl-C stops both."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: object, host: str, port: int, **options: object) -> None:
        call_command("collectstatic", "--no-input", verbosity=0)
        manage = str(settings.BASE_DIR / "manage.py")
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "cronadmin.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    "2",
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "5",
                ]
            ),
            subprocess.Popen([sys.executable, manage, "runscheduler"]),
        ]
        self.stdout.write(
            self.style.SUCCESS(f"CronAdmin is running on http://{host}:{port}/ — Ctrl-C stops it.")
        )
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if not stopping:
            # One of the two died on its own: say so, and fail.
            self.stderr.write("A child process stopped unexpectedly; both are stopped now.")
            sys.exit(1)
