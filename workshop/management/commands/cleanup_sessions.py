"""`manage.py cleanup_sessions`: the daily expired-session cleanup."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from workshop.cleanup import BATCH_SIZE, cleanup_sessions


class Command(BaseCommand):
    help = (
        "Deactivate sessions past expires_at and clear their openai_api_key (data is kept). "
        "With --delete-inactive-older-than DAYS, also delete inactive sessions idle that long, "
        "with their steps and events. Works in batches of short transactions. Run daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--delete-inactive-older-than",
            type=int,
            metavar="DAYS",
            help="delete inactive sessions whose last activity is older than DAYS days",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")

    def handle(self, *args, **options):
        days = options["delete_inactive_older_than"]
        if days is not None and days < 1:
            raise CommandError("--delete-inactive-older-than must be at least 1 day")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            report = cleanup_sessions(
                delete_inactive_older_than_days=days,
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except DatabaseError as exc:
            raise CommandError(f"Cleanup failed (finished batches stay done): {exc}") from exc
        verb = "Would deactivate" if report.dry_run else "Deactivated"
        self.stdout.write(
            f"{verb} {report.deactivated} expired sessions (openai_api_key cleared, data kept)."
        )
        if days is not None:
            verb = "Would delete" if report.dry_run else "Deleted"
            cascades = ", ".join(
                f"{count} {label}" for label, count in sorted(report.deleted_rows.items())
            )
            self.stdout.write(
                f"{verb} {report.deleted_sessions} inactive sessions idle for over {days} days"
                + (f" ({cascades})" if cascades else "")
                + "."
            )
        self.stdout.write(
            self.style.SUCCESS("Dry run: nothing changed." if report.dry_run else "Done.")
        )
