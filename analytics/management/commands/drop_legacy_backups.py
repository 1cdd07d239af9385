"""`manage.py drop_legacy_backups --older-than DAYS [--dry-run]`."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.legacy.backups import drop_old_backups


class Command(BaseCommand):
    help = (
        "Drop the <table>_backup_<YYYYMMDDHHMMSS> tables migrate_legacy left, when older than "
        "DAYS days (by the timestamp in their name). PostgreSQL. Try --dry-run first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="list only, drop nothing")

    def handle(self, *args, **options):
        try:
            report = drop_old_backups(
                older_than_days=options["older_than"], dry_run=options["dry_run"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            raise CommandError(f"Dropping backups failed: {exc}") from exc
        verb = "Would drop" if report.dry_run else "Dropped"
        for name in report.dropped:
            self.stdout.write(f"  {verb.lower()} {name}")
        for name in report.kept:
            self.stdout.write(f"  keep {name} (newer)")
        self.stdout.write(f"{verb} {len(report.dropped)} backup table(s).")
        self.stdout.write(
            self.style.SUCCESS("Dry run: nothing changed." if report.dry_run else "Done.")
        )
