"""`manage.py export_progress`: everything, streamed, secrets excluded."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.privacy.exports import write_csv, write_json


class _Raw:
    """The command's stdout without the newline OutputWrapper adds to every write."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")


class Command(BaseCommand):
    help = (
        "Export students, sessions, steps and events (JSON: one nested document for restoring "
        "or analysis; CSV: one row per session with its nine steps). Streamed in chunks, so "
        "memory stays constant. openai_api_key is never exported."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    def handle(self, *args, **options):
        write = write_json if options["format"] == "json" else write_csv
        # With the data on stdout, progress and the summary go to stderr.
        report = self.stdout if options["output"] else self.stderr
        try:
            if options["output"]:
                with open(options["output"], "w", encoding="utf-8", newline="") as out:
                    counts = write(out, progress=lambda m: report.write(f"  {m}"))
            else:
                counts = write(_Raw(self.stdout), progress=lambda m: report.write(f"  {m}"))
        except (OSError, DatabaseError) as exc:
            raise CommandError(f"Export failed: {exc}") from exc
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        target = options["output"] or "stdout"
        report.write(self.style.SUCCESS(f"Exported {summary} as {options['format']} to {target}."))
