from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_migrate

        from jobs import audit, checks, registry  # noqa: F401 (checks register on import)

        registry.autodiscover()
        user_logged_in.connect(audit.on_login, dispatch_uid="audit-login")
        user_login_failed.connect(
            audit.on_login_failed, dispatch_uid="cronadmin-audit-login-failed"
        )
        post_migrate.connect(reinstall_live_triggers, sender=self, dispatch_uid="live-triggers")


def reinstall_live_triggers(using: str, **kwargs: object) -> None:
    # A migration that rebuilds a SQLite table drops its triggers; open pages would go stale.
    from django.db import connections

    from jobs import live

    live.install_triggers(connections[using])
