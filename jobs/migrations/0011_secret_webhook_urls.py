"""The notification webhook's URL becomes a secret: encrypted in jobs and their versions, and
masked (host shown, path hidden) where it was recorded for people to read: the notifications
and the audit trail."""

import importlib

from django.db import migrations, models

# SQLite rebuilds jobs_job to change the column, and dropping the old table drops the
# change-marker triggers of 0002 with it: they are put back after the rebuild.
TRIGGERS = importlib.import_module("jobs.migrations.0002_change_marker_triggers")
FIELD = "notify_webhook_url"


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in TRIGGERS.SQLITE_REVERSE + TRIGGERS.SQLITE:
        schema_editor.execute(sql)


def seal_webhook_urls(apps, schema_editor):
    from jobs.audit import mask_url, seal_url
    from jobs.vault import is_sealed

    Job = apps.get_model("jobs", "Job")
    JobVersion = apps.get_model("jobs", "JobVersion")
    Notification = apps.get_model("jobs", "Notification")
    AuditEvent = apps.get_model("jobs", "AuditEvent")
    sealed: dict[int, str] = {}
    for pk, url in Job.objects.exclude(**{FIELD: ""}).values_list("pk", FIELD).iterator():
        sealed[pk] = url if is_sealed(url) else seal_url(url, "")
        Job.objects.filter(pk=pk).update(**{FIELD: sealed[pk]})
    for version in JobVersion.objects.iterator():
        url = version.definition.get(FIELD)
        if url and not is_sealed(url):
            # The job's own ciphertext when it is the same URL: restoring it changes nothing.
            version.definition[FIELD] = seal_url(url, sealed.get(version.job_id, ""))
            version.save(update_fields=["definition"])
    for notification in Notification.objects.filter(channel="webhook").iterator():
        notification.target = mask_url(notification.target)
        notification.save(update_fields=["target"])
    for event in AuditEvent.objects.filter(object_type="job").iterator():
        change = event.changes.get(FIELD) if isinstance(event.changes, dict) else None
        if isinstance(change, list):
            event.changes[FIELD] = [mask_url(v) if isinstance(v, str) else v for v in change]
            event.save(update_fields=["changes"])


def open_webhook_urls(apps, schema_editor):
    # Back to clear URLs in jobs and versions; what was masked for reading stays masked.
    from jobs.audit import open_url

    Job = apps.get_model("jobs", "Job")
    JobVersion = apps.get_model("jobs", "JobVersion")
    for pk, url in Job.objects.exclude(**{FIELD: ""}).values_list("pk", FIELD).iterator():
        Job.objects.filter(pk=pk).update(**{FIELD: open_url(url)})
    for version in JobVersion.objects.iterator():
        if version.definition.get(FIELD):
            version.definition[FIELD] = open_url(version.definition[FIELD])
            version.save(update_fields=["definition"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0010_notifications_retention"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name=FIELD,
            field=models.CharField(
                blank=True, max_length=4096, verbose_name="notification webhook"
            ),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
        migrations.RunPython(seal_webhook_urls, open_webhook_urls),
    ]
