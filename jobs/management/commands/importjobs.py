"""Import job definitions from a JSON or YAML file: print the plan, apply it with --yes."""

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import services
from jobs.job_files import FORMATS, guess_format
from jobs.services import ImportPlan


class Command(BaseCommand):
    help = (
        "Show what importing a job file would change; with --yes, apply it (all or nothing). "
        "FILE may be - for standard input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument(
            "--format", choices=FORMATS, dest="fmt", help="Default: from the file's name or text."
        )
        parser.add_argument(
            "--delete-missing",
            action="store_true",
            help="Also delete the jobs that are not in the file.",
        )
        parser.add_argument("--yes", action="store_true", help="Apply the plan.")

    def handle(
        self,
        *args: Any,
        file: str,
        fmt: str | None,
        delete_missing: bool,
        yes: bool,
        **options: Any,
    ) -> None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        fmt = fmt or guess_format(text, file)
        run = services.jobs_import_apply if yes else services.jobs_import_plan
        try:
            plan = run(actor=None, text=text, fmt=fmt, delete_missing=delete_missing)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.print_plan(plan)

    def print_plan(self, plan: ImportPlan) -> None:
        verbs = {"create": "create", "change": "change", "unchanged": "same", "delete": "delete"}
        for job in plan.jobs:
            self.stdout.write(f"{verbs[job.action]:<7} {job.name}")
            if job.action == "change":
                for field, (old, new) in job.changes.items():
                    self.stdout.write(f"          {field}: {old!r} -> {new!r}")
        counts = plan.counts
        summary = (
            f"{counts['create']} to create, {counts['change']} to change, "
            f"{counts['unchanged']} unchanged, {counts['delete']} to delete."
        )
        if plan.applied:
            self.stdout.write(self.style.SUCCESS(f"Imported: {summary}"))
        else:
            self.stdout.write(f"Plan: {summary}")
            self.stdout.write("Nothing was written; run again with --yes to apply.")
