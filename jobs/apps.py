from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from jobs import audit, checks, registry  # noqa: F401 (checks register on import)

        registry.autodiscover()
        user_logged_in.connect(audit.on_login, dispatch_uid="audit-login")
        user_login_failed.connect(
            audit.on_login_failed, dispatch_uid="cronadmin-audit-login-failed"
        )
