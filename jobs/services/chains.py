"""Chains: the jobs a job starts when one of its runs ends, checked before they are saved.

job_create and job_update take the downstream jobs per event (`on_success`, `on_failure`,
`on_finish`) and call in here; the scheduler reads the JobLink rows when runs end
(jobs.scheduler.chains).
"""

from collections import deque
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from jobs.models import ChangeMarker, Job, JobLink

# The services' keyword for each event, in the order forms and the API show them.
CHAIN_FIELDS: dict[str, str] = {
    "on_success": JobLink.Event.SUCCESS,
    "on_failure": JobLink.Event.FAILURE,
    "on_finish": JobLink.Event.FINISH,
}
MAX_LINKS_PER_EVENT = 100


def job_chains(job: Job) -> dict[str, list[int]]:
    """The downstream job ids of `job` per chain field, sorted (as versions store them)."""
    chains: dict[str, list[int]] = {name: [] for name in CHAIN_FIELDS}
    if job.pk is None:
        return chains
    by_event = {event: name for name, event in CHAIN_FIELDS.items()}
    # Prefetched by the API's job lists; one query otherwise.
    for link in job.downstream_links.all():
        chains[by_event[link.event]].append(link.downstream_id)
    return {name: sorted(ids) for name, ids in chains.items()}


def chain_ids(value: Iterable[Any] | None) -> list[int]:
    """Jobs or ids as sorted, distinct ids; anything else is left for chains_check to name."""
    ids: set[int] = set()
    for item in value or ():
        if isinstance(item, Job):
            ids.add(item.pk)
        elif isinstance(item, int) and not isinstance(item, bool):
            ids.add(item)
        elif isinstance(item, str) and item.strip().isdigit():
            ids.add(int(item))
        else:
            raise ValidationError(
                _("“%(value)s” is not a job id.") % {"value": item}, code="invalid"
            )
    return sorted(ids)


def chains_check(job: Job | None, wanted: dict[str, list[int]]) -> dict[str, list[ValidationError]]:
    """Errors per chain field for making `wanted` the links of `job` (None: a job being created).

    Every downstream job must exist and differ from `job`, and the links must not close a cycle:
    a cycle would start its jobs over and over, so it is refused with its path in the message.
    """
    errors: dict[str, list[ValidationError]] = {}
    if not any(wanted.values()):
        return errors
    # Two editors each adding one half of a cycle must not both pass: serialize link changes.
    list(ChangeMarker.objects.select_for_update().filter(id=1).values_list("id"))
    every = {i for ids in wanted.values() for i in ids}
    names = dict(Job.objects.filter(pk__in=every).values_list("pk", "name"))
    for field, ids in wanted.items():
        if len(ids) > MAX_LINKS_PER_EVENT:
            message = _("A job can start at most %(n)d jobs per event.")
            errors.setdefault(field, []).append(
                ValidationError(message % {"n": MAX_LINKS_PER_EVENT}, code="max_length")
            )
        missing = [str(i) for i in ids if i not in names]
        if missing:
            errors.setdefault(field, []).append(
                ValidationError(
                    _("No job with id %(ids)s.") % {"ids": ", ".join(missing)}, code="no_such_job"
                )
            )
        if job is not None and job.pk in ids:
            errors.setdefault(field, []).append(
                ValidationError(_("A job cannot start itself."), code="self_link")
            )
    if errors or job is None or job.pk is None:
        # A job being created has no upstream links yet, so it cannot close a cycle.
        return errors
    for field, ids in wanted.items():
        for downstream in ids:
            path = _path_back(downstream, job.pk)
            if path is not None:
                errors.setdefault(field, []).append(_cycle_error([job.pk, *path]))
                break
    return errors


def _path_back(start: int, target: int) -> list[int] | None:
    """The shortest path of existing links from `start` to `target`, or None.

    `target`'s own links are left out: they are the ones being replaced.
    """
    edges: dict[int, set[int]] = {}
    for upstream, downstream in JobLink.objects.exclude(upstream_id=target).values_list(
        "upstream_id", "downstream_id"
    ):
        edges.setdefault(upstream, set()).add(downstream)
    came_from: dict[int, int | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == target:
            path = [node]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        for following in sorted(edges.get(node, ())):
            if following not in came_from:
                came_from[following] = node
                queue.append(following)
    return None


def _cycle_error(path: list[int]) -> ValidationError:
    names = dict(Job.objects.filter(pk__in=path).values_list("pk", "name"))
    shown = " → ".join(names.get(i, f"#{i}") for i in path)
    return ValidationError(
        _("This would make a cycle: %(path)s. A job must not start itself, even through others.")
        % {"path": shown},
        code="cycle",
    )


def chains_save(job: Job, wanted: dict[str, list[int]]) -> None:
    """Make `wanted` the links of `job` for the events it names; the others stay as they are."""
    events = {CHAIN_FIELDS[field] for field in wanted}
    current = {
        (link.downstream_id, link.event): link.pk
        for link in job.downstream_links.all()
        if link.event in events
    }
    target = {(i, CHAIN_FIELDS[field]) for field, ids in wanted.items() for i in ids}
    stale = [pk for key, pk in current.items() if key not in target]
    if stale:
        JobLink.objects.filter(pk__in=stale).delete()
    JobLink.objects.bulk_create(
        JobLink(upstream=job, downstream_id=i, event=event)
        for i, event in sorted(target - current.keys())
    )
    # The prefetch cache (if any) no longer tells the truth.
    getattr(job, "_prefetched_objects_cache", {}).pop("downstream_links", None)
