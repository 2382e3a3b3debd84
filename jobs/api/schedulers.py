"""The schedulers' health as JSON: every node, the leader, the lease, and a verdict."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from jobs.api.endpoint import api_view, isoformat
from jobs.monitoring import NodeHealth, SchedulerHealth, scheduler_health


def node_json(node: NodeHealth) -> dict[str, Any]:
    return {
        "name": node.name,
        "host": node.node.host,
        "pid": node.node.pid,
        "leader": node.leader,
        "started_at": isoformat(node.node.started_at),
        "stopped_at": isoformat(node.node.stopped_at),
        "heartbeat_at": isoformat(node.node.heartbeat_at),
        "heartbeat_age_seconds": round(node.heartbeat_age.total_seconds(), 3),
        "applied_change": node.node.applied_change,
        "applied_at": isoformat(node.node.applied_at),
        "change_delay_seconds": (
            round(node.change_delay.total_seconds(), 3) if node.change_delay is not None else None
        ),
    }


def health_json(health: SchedulerHealth) -> dict[str, Any]:
    return {
        "healthy": health.healthy,
        "problem": health.problem,
        "leader": health.leader.name if health.leader else None,
        "term": health.term,
        "lease_seconds": health.lease_seconds,
        "lease_expires_at": isoformat(health.lease_expires_at),
        "change_version": health.change_version,
        "changed_at": isoformat(health.changed_at),
        "nodes": [node_json(node) for node in health.nodes],
    }


@api_view("GET")
def schedulers(request: HttpRequest) -> HttpResponse:
    # 503 lets a monitor that only looks at status codes alert on it; the body says why.
    health = scheduler_health()
    return JsonResponse(health_json(health), status=200 if health.healthy else 503)
