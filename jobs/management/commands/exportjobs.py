"""Write job definitions to a JSON or YAML file (see docs/import-export.md)."""

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import services
from jobs.job_files import FORMATS


class Command(BaseCommand):
    help = "Export job definitions (all, or those named with --job) as JSON or YAML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="yaml", dest="fmt")
        parser.add_argument(
            "--job", action="append", default=[], dest="names", help="A job's name; repeatable."
        )
        parser.add_argument("-o", "--output", help="The file to write (default: standard output).")

    def handle(
        self, *args: Any, fmt: str, names: list[str], output: str | None, **options: Any
    ) -> None:
        try:
            # The command line acts as the system itself (actor None), like other commands.
            text = services.jobs_export(actor=None, fmt=fmt, names=names or None)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {output}.")
        else:
            self.stdout.write(text, ending="")
