"""`manage.py migrate_legacy`: the legacy tables into students, sessions, steps and events."""

from django.core.management.base import BaseCommand, CommandError

from analytics.legacy.migration import LegacyMigrationError, migrate_legacy
from analytics.legacy.report import write_report
from analytics.legacy.secrets import InvalidLegacyKey, parse_legacy_key


class Command(BaseCommand):
    help = (
        "Migrate the legacy tables (workshop_students, workshop_sessions and, with "
        "--include-configs, student_configs) into students, sessions, step_progress and events. "
        "One transaction: all or nothing. Safe to run again: existing sessions are left alone. "
        "Afterwards each migrated table is renamed to <name>_backup_<YYYYMMDDHHMMSS>."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source-url",
            help="read the legacy tables from this PostgreSQL database instead of our own",
        )
        parser.add_argument(
            "--include-configs",
            action="store_true",
            help="also merge student_configs (session configuration, 0-based current_step)",
        )
        parser.add_argument(
            "--legacy-encryption-key",
            help="the old service's ENCRYPTION_KEY (64 hex characters) to decrypt old "
            "openai_api_key ciphertext; without it such keys are dropped and counted",
        )
        parser.add_argument(
            "--keep-tables", action="store_true", help="do not rename the legacy tables"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="do everything, report, then roll back (nothing changes, nothing is renamed)",
        )

    def handle(self, *args, **options):
        legacy_key = None
        if options["legacy_encryption_key"]:
            try:
                legacy_key = parse_legacy_key(options["legacy_encryption_key"])
            except InvalidLegacyKey as exc:
                raise CommandError(str(exc)) from exc
        try:
            report = migrate_legacy(
                source_url=options["source_url"],
                include_configs=options["include_configs"],
                legacy_key=legacy_key,
                keep_tables=options["keep_tables"],
                dry_run=options["dry_run"],
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except LegacyMigrationError as exc:
            raise CommandError(f"Legacy migration failed, {exc}") from exc
        write_report(self, report)
