"""Print a new key for CRONADMIN_ENCRYPTION_KEYS."""

from typing import Any

from django.core.management.base import BaseCommand

from jobs import vault


class Command(BaseCommand):
    help = (
        "Print a new Fernet key for CRONADMIN_ENCRYPTION_KEYS (last line). To rotate, put it "
        "first in the list, keep the old keys after it, then run reencryptsecrets."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Alone on the last line, so scripts can take it with `tail -n 1`.
        self.stdout.write(vault.generate_key())
