"""The `*_backup_*` tables a migration leaves keep no secrets, and ops can drop old ones
(issue 11)."""

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from analytics.tests.legacy_tables import SHAPE_C, SHAPE_D_EXTRA, STUDENT_CONFIGS, insert, run_sql

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def test_secret_columns_are_scrubbed_in_the_backup_tables():
    with connection.cursor() as cursor:
        run_sql(cursor, SHAPE_C, SHAPE_D_EXTRA, STUDENT_CONFIGS)
        insert(
            cursor,
            "workshop_students",
            session_token="ws_cfg",
            student_email="cfg@example.org",
            openai_api_key="sk-student-secret",
        )
        insert(
            cursor,
            "student_configs",
            session_token="ws_cfg",
            student_email="cfg@example.org",
            system_prompt="Kept",
            openai_api_key="sk-config-secret",
            twilio_auth_token="twilio-secret",
        )
    out = StringIO()
    call_command("migrate_legacy", "--include-configs", stdout=out)

    backups = re.findall(r"Renamed \w+ to (\w+_backup_\d{14})", out.getvalue())
    assert len(backups) == 2
    dumped = json.dumps([sql(f'SELECT row_to_json(t)::text FROM "{name}" t') for name in backups])
    for secret in ("sk-student-secret", "sk-config-secret", "twilio-secret"):
        assert secret not in dumped
    assert "Kept" in dumped  # only the secrets go
    assert "cfg@example.org" in dumped


@pytest.fixture
def backups():
    sql("CREATE TABLE workshop_students_backup_20200101000000 (id int)")
    sql("CREATE TABLE student_configs_backup_20990101000000 (id int)")
    sql("CREATE TABLE notes_20200101000000 (id int)")


def drop(*args) -> str:
    out = StringIO()
    call_command("drop_legacy_backups", *args, stdout=out)
    return out.getvalue()


def exists(name: str) -> bool:
    return sql("SELECT to_regclass(%s) IS NOT NULL", [name])[0][0]


def test_dry_run_lists_old_backups_and_drops_nothing(backups):
    out = drop("--older-than", "30", "--dry-run")

    assert "would drop workshop_students_backup_20200101000000" in out
    assert "would drop student_configs_backup_20990101000000" not in out
    assert exists("workshop_students_backup_20200101000000")


def test_old_backups_are_dropped_and_nothing_else(backups):
    out = drop("--older-than", "30")

    assert "Dropped 1 backup table" in out
    assert not exists("workshop_students_backup_20200101000000")
    assert exists("student_configs_backup_20990101000000")
    assert exists("notes_20200101000000")


@pytest.mark.parametrize("days", ["0", "-1", "100000"])
def test_days_out_of_range_are_refused(backups, days):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--older-than"):
        drop("--older-than", days)
    assert exists("workshop_students_backup_20200101000000")
