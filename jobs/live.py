"""What open pages watch: a version per topic, bumped by database triggers, read in one lookup.

Topics: "runs" (any run), "jobs" (any job definition or state), "job:<id>" (one job and its
runs), "executors", "schedulers" (nodes starting or stopping, the leader changing; heartbeats
alone do not count, or every open dashboard would redraw every two seconds).

The triggers live here rather than only in a migration because SQLite drops a table's triggers
when a later migration rebuilds the table; `install_triggers` runs again after every migrate.
"""

import re
from collections.abc import Iterable

from django.db.backends.base.base import BaseDatabaseWrapper

from jobs.models import LiveTopic

TOPIC = re.compile(r"^(runs|jobs|executors|schedulers|job:[1-9][0-9]{0,17})$")
MAX_TOPICS = 8


def job_topic(job_id: int) -> str:
    return f"job:{job_id}"


def event_name(topic: str) -> str:
    """The htmx event a page's regions listen to (`hx-trigger="live-job-7 from:body"`)."""
    return "live-" + topic.replace(":", "-")


def versions(topics: Iterable[str]) -> dict[str, int]:
    """The current version of each topic (0 for one never bumped), in one primary-key lookup."""
    wanted = list(dict.fromkeys(topics))
    found = dict(LiveTopic.objects.filter(topic__in=wanted).values_list("topic", "version"))
    return {topic: found.get(topic, 0) for topic in wanted}


def token(current: dict[str, int]) -> str:
    return ".".join(str(current[topic]) for topic in current)


def watch(*topics: str) -> dict[str, object]:
    """Context for templates/jobs/_live_watch.html: the topics and the versions the page shows."""
    current = versions(topics)
    return {"topics": ",".join(current), "since": token(current)}


# --- Triggers -------------------------------------------------------------------------------
# (table, trigger suffix, topics as SQL expressions over the changed row R, condition on update)
_NODE_CHANGED = (
    "OLD.stopped_at IS DISTINCT FROM NEW.stopped_at "
    "OR OLD.applied_change IS DISTINCT FROM NEW.applied_change"
)
_LEASE_CHANGED = (
    "OLD.holder_id IS DISTINCT FROM NEW.holder_id OR OLD.term IS DISTINCT FROM NEW.term"
)
WATCHED = [
    ("jobs_run", "run", ["'runs'", "'job:' || R.job_id"], None),
    ("jobs_job", "job", ["'jobs'", "'job:' || R.id"], None),
    ("jobs_executor", "executor", ["'executors'"], None),
    ("jobs_schedulernode", "node", ["'schedulers'"], _NODE_CHANGED),
    ("jobs_schedulerlease", "lease", ["'schedulers'"], _LEASE_CHANGED),
]
OPS = ("INSERT", "UPDATE", "DELETE")
UPSERT = (
    "INSERT INTO jobs_livetopic (topic, version) VALUES {values} "
    "ON CONFLICT (topic) DO UPDATE SET version = jobs_livetopic.version + 1;"
)


def _sqlite_statements() -> list[str]:
    statements = []
    for table, name, topics, changed in WATCHED:
        for op in OPS:
            row = "OLD" if op == "DELETE" else "NEW"
            values = ", ".join(f"({t.replace('R.', row + '.')}, 1)" for t in topics)
            when = ""
            if op == "UPDATE" and changed:
                when = "WHEN " + changed.replace("IS DISTINCT FROM", "IS NOT")
            statements.append(f"DROP TRIGGER IF EXISTS jobs_live_{name}_{op.lower()};")
            statements.append(
                f"CREATE TRIGGER jobs_live_{name}_{op.lower()} AFTER {op} ON {table} {when} "
                f"BEGIN {UPSERT.format(values=values)} END;"
            )
    return statements


def _postgres_statements() -> list[str]:
    # Deferred to commit and always bumping the row "all" first: every transaction takes the
    # counter rows in the same order, at its very end, so two writers never deadlock on them
    # and no other lock is taken while they are held.
    statements = []
    for table, name, topics, changed in WATCHED:
        values = ", ".join(f"({t.replace('R.', 'changed.')}, 1)" for t in topics)
        statements.append(
            f"""
            CREATE OR REPLACE FUNCTION jobs_live_{name}() RETURNS trigger AS $$
            DECLARE changed {table}%ROWTYPE;
            BEGIN
                IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
                {UPSERT.format(values="('all', 1)")}
                {UPSERT.format(values=values)}
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql;
            """
        )
        for op in OPS:
            when = f"WHEN ({changed})" if op == "UPDATE" and changed else ""
            trigger = f"jobs_live_{name}_{op.lower()}"
            statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {table};")
            statements.append(
                f"CREATE CONSTRAINT TRIGGER {trigger} AFTER {op} ON {table} "
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when} "
                f"EXECUTE FUNCTION jobs_live_{name}();"
            )
    return statements


def _drop_statements(vendor: str) -> list[str]:
    statements = []
    for table, name, _topics, _changed in WATCHED:
        for op in OPS:
            on = f" ON {table}" if vendor == "postgresql" else ""
            statements.append(f"DROP TRIGGER IF EXISTS jobs_live_{name}_{op.lower()}{on};")
        if vendor == "postgresql":
            statements.append(f"DROP FUNCTION IF EXISTS jobs_live_{name}();")
    return statements


def install_triggers(connection: BaseDatabaseWrapper) -> None:
    statements = {"sqlite": _sqlite_statements, "postgresql": _postgres_statements}
    if connection.vendor not in statements:
        return
    tables = set(connection.introspection.table_names())
    if not {"jobs_livetopic", *(table for table, *_ in WATCHED)} <= tables:
        return
    with connection.cursor() as cursor:
        for sql in statements[connection.vendor]():
            cursor.execute(sql)


def drop_triggers(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in _drop_statements(connection.vendor):
            cursor.execute(sql)
