"""Many jobs at once, for imports: what job_create and job_update (with job_pause and
job_resume) do for each job, in a few statements, so that the write transaction of a large
import stays short.

The checks ran before, in job_check (and, for the links, the import's own checks by name); the
caller makes sure nothing they read changed since (jobs.services.transfer compares the jobs'
fingerprint inside the transaction). What is left here is writing.
"""

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jobs import audit
from jobs.models import AuditEvent, Calendar, Job, JobLink, JobVersion
from jobs.permissions import require
from jobs.services.chains import CHAIN_FIELDS
from jobs.services.jobs import (
    ANCHOR_FIELDS,
    DEFINITION_FIELDS,
    Actor,
    _fields,
    _user,
    _with_chains,
    job_definition,
    with_calendars,
)

JobState = tuple[str, datetime | None, str]  # state, paused until, pause note


@transaction.atomic
def jobs_create_checked(
    *, actor: Actor, jobs: list[tuple[Job, dict[str, list[int]], JobState, list[Calendar]]]
) -> list[Job]:
    """Save new jobs as job_check passed them, with their links (ids, or -1 - index for a job
    of `jobs`), state and calendars: what job_create (and job_pause) do for each."""
    for job, _links, (state, until, note), _calendars in jobs:
        require(actor, "edit", kind=job.kind)
        job.created_by = job.updated_by = _user(actor)
        job.state, job.paused_until, job.pause_note = state, until, note
    created = Job.objects.bulk_create([job for job, _links, _state, _calendars in jobs])
    by_position = {-1 - index: job.pk for index, job in enumerate(created)}
    links, versions, events = [], [], []
    through = Job.calendars.through
    memberships = []
    for job, wanted, _state, calendars in jobs:
        ids = {name: sorted(by_position.get(i, i) for i in found) for name, found in wanted.items()}
        links += _links_of(job, ids)
        memberships += [through(job_id=job.pk, calendar_id=c.pk) for c in calendars]
        definition = with_calendars(_with_chains(_fields(job), ids), [c.name for c in calendars])
        versions.append(_version(job, actor, definition))
        events.append(_event(actor, AuditEvent.Action.CREATE, job, audit.diff({}, definition)))
        if job.state == Job.State.PAUSED:
            events.append(_event(actor, AuditEvent.Action.PAUSE, job, _paused(job)))
    _save_many(links, versions, events)
    through.objects.bulk_create(memberships, batch_size=500)
    return created


@transaction.atomic
def jobs_update_checked(
    *, actor: Actor, jobs: list[tuple[Job, Job, dict[str, list[int]], JobState, list[Calendar]]]
) -> list[Job]:
    """Save changed jobs: each as it was (links and calendars prefetched), as job_check passed
    it, its new links, state and calendars; what job_update (and job_pause / job_resume) do for
    each."""
    now = timezone.now()
    changed: list[Job] = []
    stale: list[int] = []
    links, versions, events = [], [], []
    regrouped: list[tuple[Job, list[Calendar]]] = []
    for job, checked, wanted, (state, until, note), calendars in jobs:
        require(actor, "edit", kind=job.kind)
        require(actor, "edit", kind=checked.kind)
        before = job_definition(job)
        names = [c.name for c in calendars]
        after = with_calendars(_with_chains(_fields(checked), wanted), names)
        checked.updated_by = _user(actor)
        checked.updated_at = now
        if after != before:
            if any(before[f] != after[f] for f in ANCHOR_FIELDS):
                checked.schedule_anchor = now
            checked.version = job.version + 1
            current = {
                (link.downstream_id, link.event): link.pk for link in job.downstream_links.all()
            }
            target = {(i, CHAIN_FIELDS[name]) for name, ids in wanted.items() for i in ids}
            stale += [pk for key, pk in current.items() if key not in target]
            links += [
                JobLink(upstream=checked, downstream_id=i, event=event)
                for i, event in sorted(target - current.keys())
            ]
            if before.get("calendars", []) != after.get("calendars", []):
                regrouped.append((checked, calendars))
            versions.append(_version(checked, actor, after))
            events.append(
                _event(actor, AuditEvent.Action.UPDATE, checked, audit.diff(before, after))
            )
        if (state, until, note) != (job.state, job.paused_until, job.pause_note):
            checked.state, checked.paused_until, checked.pause_note = state, until, note
            if state == Job.State.PAUSED:
                events.append(_event(actor, AuditEvent.Action.PAUSE, checked, _paused(checked)))
            elif job.state == Job.State.PAUSED:
                events.append(_event(actor, AuditEvent.Action.RESUME, checked, None))
        changed.append(checked)
    columns = [
        *(name for name in DEFINITION_FIELDS if name != "name"),
        "version",
        "schedule_anchor",
        "state",
        "paused_until",
        "pause_note",
        "updated_by",
        "updated_at",
    ]
    _update_rows(changed, columns)
    if stale:
        JobLink.objects.filter(pk__in=stale).delete()
    for job, calendars in regrouped:
        job.calendars.set(calendars)
    _save_many(links, versions, events)
    return changed


def _update_rows(jobs: list[Job], columns: list[str]) -> None:
    """One UPDATE statement, run for every job: bulk_update's CASE expressions cost Django
    seconds to build for a thousand rows, which would all be spent holding the write lock."""
    if not jobs:
        return
    fields = [Job._meta.get_field(name) for name in columns]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(Job._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"
    rows = [
        [field.get_db_prep_save(getattr(job, field.attname), connection) for field in fields]
        + [job.pk]
        for job in jobs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _links_of(job: Job, ids: dict[str, list[int]]) -> list[JobLink]:
    return [
        JobLink(upstream=job, downstream_id=i, event=CHAIN_FIELDS[name])
        for name, downstream in ids.items()
        for i in downstream
    ]


def _version(job: Job, actor: Actor, definition: dict[str, Any]) -> JobVersion:
    return JobVersion(job=job, version=job.version, definition=definition, created_by=_user(actor))


def _event(actor: Actor, action: str, job: Job, changes: dict[str, Any] | None) -> AuditEvent:
    return audit.entry(
        actor=actor,
        action=action,
        object_type="job",
        object_id=job.pk,
        object_repr=job.name,
        changes=changes,
    )


def _paused(job: Job) -> dict[str, Any]:
    until = job.paused_until.isoformat() if job.paused_until else None
    return {"paused_until": [None, until], "note": [None, job.pause_note]}


def _save_many(links: list[JobLink], versions: list[JobVersion], events: list[AuditEvent]) -> None:
    JobLink.objects.bulk_create(links, batch_size=500)
    JobVersion.objects.bulk_create(versions, batch_size=500)
    AuditEvent.objects.bulk_create(events, batch_size=500)
