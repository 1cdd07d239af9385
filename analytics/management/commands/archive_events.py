"""`manage.py archive_events`: move old events out of the events table (analytics/retention.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.retention import BATCH_SIZE, archive_events


class Command(BaseCommand):
    help = (
        "Move events older than --older-than DAYS out of the events table: appended to a "
        "gzipped JSON Lines file (--to FILE.jsonl.gz), or deleted (--no-archive). Events of "
        "sessions in a workshop run that has not ended are kept. Batches of short "
        "transactions; a re-run continues where an interrupted one stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--to", type=Path, metavar="FILE.jsonl.gz", help="append them here")
        where.add_argument(
            "--no-archive", action="store_true", help="delete them without keeping a copy"
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")

    def handle(self, *args, **options):
        archive_to, dry_run = options["to"], options["dry_run"]
        if archive_to is None and not options["no_archive"] and not dry_run:
            raise CommandError("Say where the events go: --to FILE.jsonl.gz, or --no-archive.")
        try:
            # Every argument is checked before the first write (ValueError naming it).
            report = archive_events(
                older_than_days=options["older_than"],
                archive_to=archive_to,
                dry_run=dry_run,
                batch_size=options["batch_size"],
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            raise CommandError(f"Archiving failed (finished batches stay done): {exc}") from exc
        cutoff = report.cutoff.isoformat(timespec="seconds")
        if dry_run:
            self.stdout.write(f"Would move {report.archived} events created before {cutoff}.")
        else:
            where = f"to {archive_to}" if archive_to else "deleted, no archive"
            self.stdout.write(
                f"Moved {report.archived} events created before {cutoff} ({where}) in "
                f"{report.batches} batches; longest batch {report.longest_batch_seconds:.3f} s."
            )
        self.stdout.write(
            f"Kept {report.kept_for_open_runs} older events of sessions in runs not ended yet."
        )
        self.stdout.write(self.style.SUCCESS("Dry run: nothing changed." if dry_run else "Done."))
