"""System checks for a deployment (`manage.py check --deploy`)."""

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register

from jobs import vault


@register(Tags.security, deploy=True)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not vault.uses_derived_key():
        return []
    return [
        Warning(
            "CRONADMIN_ENCRYPTION_KEYS is not set: the secrets in job settings are encrypted "
            "with a key derived from SECRET_KEY, so changing SECRET_KEY makes them unreadable "
            "and whoever knows it can read them.",
            hint="Generate a key with `manage.py generateencryptionkey`, set "
            "CRONADMIN_ENCRYPTION_KEYS to it, then run `manage.py reencryptsecrets`.",
            id="cronadmin.W001",
        )
    ]


@register(Tags.security)
def check_allowed_hosts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from django.conf import settings

    from jobs.kinds.ssrf import setting_entries

    return [
        Warning(
            f"CRONADMIN_HTTP_ALLOWED_HOSTS: {entry!r} is not used: {problem}",
            hint="Write a host name, *.domain, an IP address or a network of at most a /8.",
            id="cronadmin.W011",
        )
        for entry, problem in setting_entries(settings.CRONADMIN_HTTP_ALLOWED_HOSTS)
        if problem is not None
    ]
