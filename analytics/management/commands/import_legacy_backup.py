"""`manage.py import_legacy_backup FILE.json`: the old service's backup file, same pipeline."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.legacy.backup import LegacyBackupError, import_legacy_backup
from analytics.legacy.report import write_report


class Command(BaseCommand):
    help = (
        'Import the old service\'s backup file ({"success", "count", "students": [...]}) '
        "into students, sessions, step_progress and events through the legacy migration's "
        "SQL pipeline (PostgreSQL only). One transaction; running it twice changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the backup JSON file")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would happen, change nothing"
        )

    def handle(self, *args, **options):
        try:
            report = import_legacy_backup(
                path=options["file"],
                dry_run=options["dry_run"],
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except (LegacyBackupError, DatabaseError) as exc:
            raise CommandError(f"Backup import failed, nothing was changed: {exc}") from exc
        write_report(self, report)
