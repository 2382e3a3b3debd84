"""Whether the schedulers are healthy, read from the database: the health page, its JSON, the
web's /metrics and `manage.py schedulerhealth` all judge by this one function."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.models import ChangeMarker, SchedulerLease, SchedulerNode
from jobs.scheduler.node import LEASE_NAME, lease_ttl

# Nodes that stopped without saying so keep their row; the newest heartbeats are enough to show.
MAX_NODES = 20


@dataclass
class NodeHealth:
    node: SchedulerNode
    leader: bool
    heartbeat_age: timedelta
    # Leader only: how long the newest job change took to reach it, or has been waiting so far.
    change_delay: timedelta | None

    @property
    def name(self) -> str:
        return str(self.node)


@dataclass
class SchedulerHealth:
    nodes: list[NodeHealth]
    leader: NodeHealth | None
    term: int
    lease_expires_at: datetime | None
    change_version: int
    changed_at: datetime | None
    lease_seconds: float
    healthy: bool
    problem: str


def scheduler_health(now: datetime | None = None) -> SchedulerHealth:
    now = now or timezone.now()
    lease = SchedulerLease.objects.filter(name=LEASE_NAME).first()
    holder_id = lease.holder_id if lease else None
    marker = ChangeMarker.objects.filter(id=1).values_list("version", "changed_at").first()
    version, changed_at = marker or (0, None)
    rows = SchedulerNode.objects.filter(Q(stopped_at__isnull=True) | Q(pk=holder_id or 0))
    nodes = []
    for node in rows.order_by("-heartbeat_at")[:MAX_NODES]:
        leader = node.pk == holder_id
        nodes.append(
            NodeHealth(
                node=node,
                leader=leader,
                heartbeat_age=max(node.heartbeat_age(now), timedelta(0)),
                change_delay=_change_delay(node, version, changed_at, now) if leader else None,
            )
        )
    leader = next((n for n in nodes if n.leader), None)
    ttl = lease_ttl()
    if leader is None:
        problem = _("No scheduler is in charge: no job runs.")
    elif leader.node.stopped_at is not None:
        problem = _("The leading scheduler has stopped.")
    elif leader.heartbeat_age > ttl:
        problem = _(
            "The leading scheduler's last heartbeat was %(age)d s ago, more than the %(ttl)d s "
            "lease."
        ) % {"age": leader.heartbeat_age.total_seconds(), "ttl": ttl.total_seconds()}
    else:
        problem = ""
    return SchedulerHealth(
        nodes=nodes,
        leader=leader,
        term=lease.term if lease else 0,
        lease_expires_at=lease.expires_at if lease and holder_id else None,
        change_version=version,
        changed_at=changed_at,
        lease_seconds=ttl.total_seconds(),
        healthy=not problem,
        problem=problem,
    )


def _change_delay(
    node: SchedulerNode, version: int, changed_at: datetime | None, now: datetime
) -> timedelta | None:
    if changed_at is None:
        return None
    # A change older than the node counts from the node's start: it then applies it at once.
    since = max(changed_at, node.started_at)
    if node.applied_change >= version and node.applied_at is not None:
        return max(node.applied_at - since, timedelta(0))
    return max(now - since, timedelta(0))
