"""Import of the old service's backup file (`manage.py import_legacy_backup FILE.json`).

The file is `GET /api/track-student-progress?getAllStudents=true`'s reply (docs/spec/legacy.md):
`{"success": true, "count": n, "students": [{"studentId": <email>, "studentName",
"exercises", "startedAt", "lastActivity", "totalTimeSpent", "completionRate", "repoCreated",
"demoMode"}, ...]}`. Its items are staged into the table migration's `legacy_raw`, one row
each, and go through the same SQL pipeline (analytics.legacy.migration.run_pipeline), so the
rules exist once; PostgreSQL only, like the migration. The items carry no token: the pipeline
derives the one the table migration would for the same row, so importing a file twice, or
after migrating the table it was taken from, adds nothing. One transaction: all or nothing.
"""

import json
import time
from pathlib import Path
from typing import Any

import psycopg
from django.db import connection, transaction

from analytics.legacy.migration import (
    REPORT_LIST_LIMIT,
    MigrationReport,
    Progress,
    create_staging,
    run_pipeline,
)

SOURCE = "backup file"

# legacy_raw column <- backup item key. The rank in the file is the row's priority: where
# items of one session disagree (name, email, event's legacy key), the first item wins.
_COLUMNS = {
    "email": "studentId",
    "name": "studentName",
    "exercises": "exercises",
    "started_at": "startedAt",
    "last_activity": "lastActivity",
    "demo_mode": "demoMode",
}
_COPY_SQL = "COPY legacy_raw (priority, src_table, src_key, " + ", ".join(_COLUMNS) + ") FROM STDIN"


class LegacyBackupError(Exception):
    """The file is not a legacy backup, or the import failed; nothing was changed."""


def load_backup(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LegacyBackupError(f"cannot read {path}: {exc}") from exc
    items = data.get("students") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise LegacyBackupError(f'{path} has no "students" list: not a legacy backup file')
    return items


def import_legacy_backup(
    *, path: Path, dry_run: bool = False, progress: Progress = lambda message: None
) -> MigrationReport:
    if connection.vendor != "postgresql":
        raise LegacyBackupError("the backup import needs PostgreSQL (set DATABASE_URL)")
    started = time.monotonic()
    items = load_backup(path)
    report = MigrationReport(dry_run=dry_run)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            create_staging(cursor)
            _stage(cursor, items, report)
            run_pipeline(cursor, report, None, progress)
            if dry_run:
                transaction.set_rollback(True)
    except psycopg.Error as exc:  # COPY talks to psycopg directly, not through Django
        raise LegacyBackupError(str(exc)) from exc
    report.rows_read[SOURCE] = len(items)
    report.seconds = time.monotonic() - started
    return report


def _text(value: Any) -> str | None:
    """A JSON value as legacy_raw holds it: strings as they are (a JSON-encoded `exercises`
    is decoded by the pipeline), other values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _stage(cursor, items: list[Any], report: MigrationReport) -> None:
    with cursor.cursor.copy(_COPY_SQL) as copy:
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                report.bad_row_count += 1
                if len(report.bad_rows) < REPORT_LIST_LIMIT:
                    report.bad_rows.append((SOURCE, f"#{index}", "item is not an object"))
                continue
            values = [_text(item.get(key)) for key in _COLUMNS.values()]
            copy.write_row((index + 1, SOURCE, f"#{index}", *values))
