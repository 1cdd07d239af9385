"""The `<table>_backup_<YYYYMMDDHHMMSS>` tables migrate_legacy leaves behind.

They keep the legacy rows for reference, but never their secrets: right after a table is
renamed, every secret-looking column (OpenAI keys, Twilio auth tokens and secrets,
passwords) is emptied; the OpenAI keys live on, encrypted, in the sessions, and Twilio
secrets are never kept at all. `manage.py drop_legacy_backups --older-than DAYS` drops the
backups once nobody needs them (`--dry-run` lists them first).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from psycopg import sql

BACKUP_NAME = re.compile(r"^(?P<table>.+)_backup_(?P<stamp>\d{14})$")
STAMP_FORMAT = "%Y%m%d%H%M%S"
# Column names that hold secrets in the old service's tables (not `session_token`, which is
# an identifier, nor `api_key_sid`, which is an account id).
SECRET_COLUMN = re.compile(r"(secret|password|auth_token|api_key$)", re.IGNORECASE)
MAX_DAYS = 36_500


def scrub_secrets(cursor, table: str) -> list[str]:
    """Empty the table's secret columns; returns their names."""
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        [table],
    )
    secrets = [name for (name,) in cursor.fetchall() if SECRET_COLUMN.search(name)]
    for column in secrets:
        statement = sql.SQL("UPDATE {} SET {} = NULL WHERE {} IS NOT NULL").format(
            sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)
        )
        cursor.execute(statement.as_string(cursor.connection))
    return secrets


@dataclass
class DropReport:
    dry_run: bool
    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def drop_old_backups(*, older_than_days: int, dry_run: bool = False) -> DropReport:
    """Drop the backup tables of this database older than `older_than_days` days (by the
    timestamp in their name). ValueError before anything is dropped when out of range."""
    if not 1 <= older_than_days <= MAX_DAYS:
        raise ValueError(f"--older-than must be from 1 to {MAX_DAYS} days")
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    report = DropReport(dry_run=dry_run)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename ~ '_backup_[0-9]{14}$' ORDER BY tablename"
        )
        for (name,) in cursor.fetchall():
            text = BACKUP_NAME.match(name)["stamp"]
            stamp = datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)
            if stamp >= cutoff:
                report.kept.append(name)
                continue
            report.dropped.append(name)
            if not dry_run:
                cursor.execute(
                    sql.SQL("DROP TABLE {}")
                    .format(sql.Identifier(name))
                    .as_string(cursor.connection)
                )
    return report
