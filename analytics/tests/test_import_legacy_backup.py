"""import_legacy_backup: the old service's backup file through the migration's SQL pipeline
(PostgreSQL only; on SQLite it refuses clearly)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from analytics.models import Event, EventType
from analytics.tests.helpers import row_counts
from analytics.tests.legacy_tables import SHAPE_A, anonymous_key, derived_token, insert
from workshop.models import Student, WorkshopSession, anonymous_email

pytestmark = pytest.mark.django_db


def ex(completed=True, seconds=60, attempts=1):
    return {
        "completed": completed,
        "timestamp": "2024-03-01T10:00:00Z",
        "timeSpent": seconds,
        "attempts": attempts,
    }


ITEMS = [
    {
        "studentId": "Ann@Example.org",
        "studentName": "Ann",
        "startedAt": "2024-03-01T09:00:00Z",
        "lastActivity": "2024-03-01T11:00:00Z",
        "totalTimeSpent": 999,
        "completionRate": 99,
        "exercises": {
            "step-1-connect-accounts": ex(seconds=100),
            "connect-accounts": ex(seconds=5),
        },
        "demoMode": True,
    },
    {
        "studentId": " ann@example.org ",
        "startedAt": "2024-03-02T09:00:00Z",
        "exercises": json.dumps(
            json.dumps({"step-0-connect-accounts": ex(seconds=10), "step-99": ex()})
        ),
    },
    {
        "studentId": "unknown@example.com",
        "startedAt": "2024-03-03T09:00:00Z",
        "exercises": {"step-8-test-call": ex(completed=False, seconds=4)},
    },
    {"studentId": "unknown@example.com", "startedAt": "2024-03-04T09:00:00Z", "exercises": "{}"},
    {"studentId": "bob@example.org", "exercises": "{nope"},
    "not an object",
]


def write_backup(tmp_path, items=ITEMS):
    path = tmp_path / "backup.json"
    path.write_text(json.dumps({"success": True, "count": len(items), "students": items}))
    return path


def run(*args) -> str:
    out = StringIO()
    call_command("import_legacy_backup", *args, stdout=out)
    return out.getvalue()


def test_import_refuses_sqlite_clearly(tmp_path):
    if connection.vendor == "postgresql":
        pytest.skip("the refusal only happens on SQLite")
    with pytest.raises(CommandError, match=r"nothing was changed: .*needs PostgreSQL"):
        run(str(write_backup(tmp_path)))
    assert row_counts() == (0, 0, 0, 0)


@pytest.mark.postgres
def test_backup_items_become_students_sessions_steps_and_events(tmp_path):
    out = run(str(write_backup(tmp_path)))

    ann = Student.objects.get(student_email="ann@example.org")
    first = WorkshopSession.objects.get(
        pk=derived_token("ann@example.org", _utc("2024-03-01T09:00:00"))
    )
    assert first.student == ann
    assert ann.student_name == "Ann"
    # Totals come from the steps, never from the file's totalTimeSpent/completionRate.
    assert (first.completion_rate, first.total_time_spent, first.current_step, first.demo_mode) == (
        11,
        105,
        1,
        True,
    )
    assert list(
        first.steps.values_list("step_number", "time_spent", "attempts", "validation_passed")
    ) == [(1, 105, 2, True)]
    second = WorkshopSession.objects.get(
        pk=derived_token("ann@example.org", _utc("2024-03-02T09:00:00"))
    )
    assert list(second.steps.values_list("step_number", "time_spent")) == [(1, 10)]
    anonymous = Student.objects.anonymous()
    assert anonymous.count() == 2
    for student in anonymous:
        (session,) = student.sessions.all()
        assert student.student_email == anonymous_email(anonymous_key(session.session_token))
    assert Event.objects.filter(event_type=EventType.DATA_MIGRATED).count() == 4
    assert "Skipped 2 bad rows:" in out
    assert "backup file #4: exercises is not valid JSON" in out
    assert "backup file #5: item is not an object" in out
    assert "'step-99': 1" in out


@pytest.mark.postgres
def test_importing_twice_changes_nothing(tmp_path):
    path = write_backup(tmp_path)
    run(str(path))
    counts = row_counts()

    out = run(str(path))

    assert counts == row_counts() == (3, 4, 3, 4)
    assert "Nothing to migrate" in out


@pytest.mark.postgres
def test_dry_run_changes_nothing(tmp_path):
    out = run(str(write_backup(tmp_path)), "--dry-run")

    assert "4 created" in out
    assert WorkshopSession.objects.count() == Student.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("content", ["{not json", '{"success": true}', "[1"])
def test_a_file_that_is_not_a_backup_fails_cleanly(tmp_path, content):
    path = tmp_path / "backup.json"
    path.write_text(content)

    with pytest.raises(CommandError, match="nothing was changed"):
        run(str(path))
    assert Student.objects.count() == 0


@pytest.mark.postgres
def test_missing_file_fails_cleanly(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(str(tmp_path / "missing.json"))


@pytest.mark.postgres
def test_backup_of_a_migrated_table_adds_nothing(tmp_path):
    """The file and the table it was taken from derive the same tokens."""
    with connection.cursor() as cursor:
        cursor.execute(SHAPE_A)
        for item in ITEMS[:4]:
            exercises = item["exercises"]
            insert(
                cursor,
                "workshop_students",
                student_email=item["studentId"],
                started_at=item["startedAt"],
                exercises=exercises if isinstance(exercises, str) else json.dumps(exercises),
            )
    call_command("migrate_legacy", stdout=StringIO())
    assert WorkshopSession.objects.count() == 4

    out = run(str(write_backup(tmp_path)))

    assert "4 already migrated (left alone), 0 created" in out
    assert WorkshopSession.objects.count() == 4


def _snapshot() -> list[tuple]:
    sessions = WorkshopSession.objects.select_related("student").order_by("pk")
    return [
        (
            s.pk,
            s.student.student_email,
            s.student.student_name,
            s.started_at,
            s.last_activity,
            s.expires_at,
            s.is_active,
            s.demo_mode,
            s.completion_rate,
            s.total_time_spent,
            s.current_step,
            list(
                s.steps.order_by("step_number").values_list(
                    "step_number",
                    "step_name",
                    "started_at",
                    "completed_at",
                    "time_spent",
                    "attempts",
                    "validation_passed",
                )
            ),
        )
        for s in sessions
    ]


@pytest.mark.postgres
def test_backup_import_and_table_migration_give_identical_rows(tmp_path):
    """A backup file and the table it was taken from give the same rows, row for row."""
    items = [
        *ITEMS[:4],
        {
            "studentId": "eve@example.org",
            "studentName": "Eve",
            "demoMode": True,
            "startedAt": "2024-03-05T09:00:00Z",
            "lastActivity": "2024-03-05T09:10:00Z",
            "exercises": {
                "step-2": {
                    "completed": "true",
                    "timeSpent": "12.5",
                    "attempts": 3,
                    "lastAttempt": "2024-03-05T09:05:00Z",
                },
                "choose-use-case": {"completed": False, "timeSpent": 1},
            },
        },
    ]
    with connection.cursor() as cursor:
        cursor.execute(SHAPE_A)
        for item in items:
            exercises = item["exercises"]
            insert(
                cursor,
                "workshop_students",
                student_email=item["studentId"],
                student_name=item.get("studentName"),
                started_at=item["startedAt"],
                last_activity=item.get("lastActivity"),
                demo_mode=item.get("demoMode"),
                exercises=exercises if isinstance(exercises, str) else json.dumps(exercises),
            )
    call_command("migrate_legacy", stdout=StringIO())
    migrated = _snapshot()
    Student.objects.all().delete()

    run(str(write_backup(tmp_path, items)))

    imported = _snapshot()
    assert imported == migrated
    assert len(imported) == len(migrated) == 5


def _utc(text):
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)
