"""Create an API token for a user; the token is printed once, as the last line of the output."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import services


class Command(BaseCommand):
    help = "Create an API token for a user and print it (last line). It is not shown again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="To tell tokens apart.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"There is no user named {username!r}.") from None
        try:
            # The command line acts as the system itself (actor None), like other commands.
            token, secret = services.api_token_create(actor=None, user=user, name=name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Created API token {token.name!r} ({token.prefix}…) for {username}. "
            "Store it now: only its hash is kept."
        )
        # Last line of the output, alone, so scripts can take it with `tail -n 1`.
        self.stdout.write(secret)
