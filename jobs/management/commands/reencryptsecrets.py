"""Re-encrypt every stored job secret with the first key of CRONADMIN_ENCRYPTION_KEYS."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import services, vault


class Command(BaseCommand):
    help = (
        "Re-encrypt the secrets in job settings and saved versions with the first key of "
        "CRONADMIN_ENCRYPTION_KEYS. Afterwards the older keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from-secret-key",
            action="store_true",
            help="Also read values encrypted with the key derived from SECRET_KEY (used while "
            "CRONADMIN_ENCRYPTION_KEYS was not set).",
        )

    def handle(self, *args: Any, from_secret_key: bool, **options: Any) -> None:
        if vault.uses_derived_key():
            self.stderr.write(
                "CRONADMIN_ENCRYPTION_KEYS is not set: using the key derived from SECRET_KEY."
            )
        try:
            changed = services.job_secrets_reencrypt(from_secret_key=from_secret_key)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Re-encrypted the secrets of {changed} job(s) and version(s).")
