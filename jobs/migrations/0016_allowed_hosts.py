import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0015_run_reason_codes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AllowedHost",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "host",
                    models.CharField(max_length=255, unique=True, verbose_name="host or network"),
                ),
                ("note", models.CharField(max_length=200, verbose_name="note")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["host"]},
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("create", "Created"),
                    ("update", "Changed"),
                    ("delete", "Deleted"),
                    ("pause", "Paused"),
                    ("resume", "Resumed"),
                    ("run_now", "Run now"),
                    ("cancel", "Cancelled"),
                    ("login", "Logged in"),
                    ("login_failed", "Failed login"),
                    ("test_request", "Test request"),
                    ("test_notification", "Test notification"),
                ],
                max_length=20,
            ),
        ),
    ]
