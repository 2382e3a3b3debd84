from django.db import migrations, models


def install(apps, schema_editor):
    from jobs import live

    live.install_triggers(schema_editor.connection)


def uninstall(apps, schema_editor):
    from jobs import live

    live.drop_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0013_celery_dispatch")]

    operations = [
        migrations.CreateModel(
            name="LiveTopic",
            fields=[
                ("topic", models.CharField(max_length=40, primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
