"""Database triggers that bump the change marker on any write to the jobs table.

Signals miss `QuerySet.update()`, bulk writes and raw SQL; a trigger sees them all, in the same
transaction as the change. On PostgreSQL the trigger also sends a NOTIFY so a listening
scheduler wakes without waiting for its next poll.
"""

from django.db import migrations

SQLITE = [
    f"""
    CREATE TRIGGER jobs_job_changed_{op.lower()} AFTER {op} ON jobs_job
    BEGIN
        UPDATE jobs_changemarker SET version = version + 1, changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
        WHERE id = 1;
    END;
    """
    for op in ("INSERT", "UPDATE", "DELETE")
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS jobs_job_changed_{op};" for op in ("insert", "update", "delete")]

POSTGRES = [
    """
    CREATE OR REPLACE FUNCTION jobs_bump_change_marker() RETURNS trigger AS $$
    DECLARE v bigint;
    BEGIN
        UPDATE jobs_changemarker SET version = version + 1, changed_at = now()
        WHERE id = 1 RETURNING version INTO v;
        PERFORM pg_notify('cronadmin_changes', coalesce(v, 0)::text);
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER jobs_job_changed AFTER INSERT OR UPDATE OR DELETE ON jobs_job
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_bump_change_marker();
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS jobs_job_changed ON jobs_job;",
    "DROP FUNCTION IF EXISTS jobs_bump_change_marker();",
]


def create_marker_and_triggers(apps, schema_editor):
    apps.get_model("jobs", "ChangeMarker").objects.get_or_create(id=1)
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE, "postgresql": POSTGRES}.get(vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(create_marker_and_triggers, drop_triggers)]
