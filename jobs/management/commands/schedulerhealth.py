import json
import socket
import sys
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone

from jobs.models import SchedulerNode
from jobs.scheduler.monitor import parse_address
from jobs.scheduler.node import lease_ttl


class Command(BaseCommand):
    help = (
        "Exit 0 when the scheduler on this host is healthy, 1 when not: a container healthcheck. "
        "Asks the scheduler's own /healthz when CRONADMIN_SCHEDULER_HTTP is set (it knows when "
        "the database is unreachable), else looks for a fresh heartbeat of this host's scheduler."
    )

    def handle(self, *args: object, **options: object) -> None:
        healthy, message = (
            self._ask_scheduler() if settings.CRONADMIN_SCHEDULER_HTTP else self._ask_database()
        )
        (self.stdout if healthy else self.stderr).write(message)
        sys.exit(0 if healthy else 1)

    def _ask_scheduler(self) -> tuple[bool, str]:
        host, port = parse_address(settings.CRONADMIN_SCHEDULER_HTTP)
        url = f"http://{host}:{port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return True, response.read().decode()
        except urllib.error.HTTPError as exc:
            return False, exc.read().decode()
        except OSError as exc:
            return False, json.dumps(
                {"status": "unhealthy", "problem": f"no answer at {url}: {exc}"}
            )

    def _ask_database(self) -> tuple[bool, str]:
        host = socket.gethostname()
        try:
            node = (
                SchedulerNode.objects.filter(host=host, stopped_at__isnull=True)
                .order_by("-heartbeat_at")
                .first()
            )
        except DatabaseError as exc:
            return False, json.dumps(
                {"status": "unhealthy", "problem": f"database unreachable: {exc}"}
            )
        if node is None:
            return False, json.dumps(
                {"status": "unhealthy", "problem": f"no scheduler runs on {host}"}
            )
        age = (timezone.now() - node.heartbeat_at).total_seconds()
        body = {"node": str(node), "heartbeat_age_seconds": round(age, 3)}
        if age > lease_ttl().total_seconds():
            return False, json.dumps(
                {"status": "unhealthy", "problem": "heartbeat too old", **body}
            )
        return True, json.dumps({"status": "ok", **body})
