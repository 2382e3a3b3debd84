"""Encrypt the secret header values stored in clear in job settings and saved versions.

Reversible while the keys are at hand: going back decrypts them again. The rule of what is
secret is copied as it stands today (jobs.audit.SECRET_HINTS), so this migration keeps meaning
the same thing when that rule grows; the encryption is jobs.vault's, which is what reads the
values afterwards.
"""

from django.db import migrations

SECRET_HINTS = ("authorization", "token", "secret", "key", "password", "cookie", "signature")


def _is_secret(name):
    return any(hint in name.lower() for hint in SECRET_HINTS)


def _map_headers(config, change):
    if not isinstance(config, dict) or not isinstance(config.get("headers"), dict):
        return config
    return {**config, "headers": {n: change(n, v) for n, v in config["headers"].items()}}


def _rewrite(apps, change):
    Job = apps.get_model("jobs", "Job")
    JobVersion = apps.get_model("jobs", "JobVersion")
    for job in Job.objects.filter(kind="http").iterator():
        config = _map_headers(job.config, change)
        if config != job.config:
            Job.objects.filter(pk=job.pk).update(config=config)
    for saved in JobVersion.objects.filter(definition__kind="http").iterator():
        config = _map_headers(saved.definition.get("config"), change)
        if config != saved.definition.get("config"):
            definition = {**saved.definition, "config": config}
            JobVersion.objects.filter(pk=saved.pk).update(definition=definition)


def encrypt(apps, schema_editor):
    from jobs.vault import is_sealed, seal

    def change(name, value):
        if _is_secret(name) and isinstance(value, str) and not is_sealed(value):
            return seal(value)
        return value

    _rewrite(apps, change)


def decrypt(apps, schema_editor):
    from jobs.vault import is_sealed, unseal

    _rewrite(apps, lambda name, value: unseal(value) if is_sealed(value) else value)


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0006_executors_and_idempotency"),
    ]

    operations = [
        migrations.RunPython(encrypt, decrypt),
    ]
