import os
import socket
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from jobs.log_context import NODE_ENV
from jobs.scheduler import monitor
from jobs.scheduler.node import SchedulerAlreadyRunning
from jobs.scheduler.process import SchedulerProcess


class Command(BaseCommand):
    help = "Run the scheduler: fires jobs, runs them and keeps the run ledger. One per host."

    def handle(self, *args: object, **options: object) -> None:
        # Inherited by the task worker processes, whose log lines then name this node.
        os.environ[NODE_ENV] = f"{socket.gethostname()}:{os.getpid()}"
        process = SchedulerProcess()
        if settings.CRONADMIN_SCHEDULER_HTTP:
            try:
                monitor.serve(process, settings.CRONADMIN_SCHEDULER_HTTP)
            except (ImproperlyConfigured, OSError) as exc:
                raise CommandError(
                    f"Cannot serve CRONADMIN_SCHEDULER_HTTP={settings.CRONADMIN_SCHEDULER_HTTP}: "
                    f"{exc}"
                ) from None
        try:
            code = process.run()
        except SchedulerAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        sys.exit(code)
