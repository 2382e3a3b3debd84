import importlib

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# SQLite rebuilds jobs_job to add the queue column, which drops the change-marker triggers of 0002
# with the old table; they are put back after the rebuild.
TRIGGERS = importlib.import_module("jobs.migrations.0002_change_marker_triggers")


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in TRIGGERS.SQLITE_REVERSE + TRIGGERS.SQLITE:
        schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0012_calendars'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CeleryWorker',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=255, unique=True)),
                ('host', models.CharField(max_length=255)),
                ('pid', models.PositiveIntegerField()),
                ('queues', models.JSONField(default=list)),
                ('concurrency', models.PositiveIntegerField(default=0)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('heartbeat_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('stopped_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.AddField(
            model_name='job',
            name='queue',
            field=models.CharField(blank=True, db_default='', default='', max_length=100, verbose_name='queue'),
        ),
        migrations.AddField(
            model_name='run',
            name='dispatch_token',
            field=models.CharField(blank=True, db_default='', default='', max_length=64),
        ),
        migrations.AddField(
            model_name='run',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='run',
            name='published_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='run',
            name='queue',
            field=models.CharField(blank=True, db_default='', default='', max_length=100),
        ),
        migrations.AddField(
            model_name='run',
            name='worker',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('dispatch_token', ''), _negated=True), fields=['state'], name='run_dispatched'),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
    ]
