"""migrate_legacy on real PostgreSQL: legacy tables in each documented shape, checked exactly."""

import json
import re
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from analytics.legacy import migration as legacy_migration
from analytics.models import Event, EventType
from analytics.tests.helpers import row_counts
from analytics.tests.legacy_tables import (
    LEGACY_KEY_HEX,
    SHAPE_A,
    SHAPE_C,
    SHAPE_D_EXTRA,
    STUDENT_CONFIGS,
    WORKSHOP_SESSIONS,
    anonymous_key,
    derived_token,
    double_encoded,
    insert,
    legacy_ciphertext,
    run_sql,
)
from progress.models import StepProgress
from progress.totals import recalculate_all_sessions
from workshop.crypto import decrypt_secret
from workshop.models import Student, WorkshopSession, anonymous_email

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def migrate(*args) -> str:
    out = StringIO()
    call_command("migrate_legacy", *args, stdout=out)
    return out.getvalue()


def sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def table_exists(name: str) -> bool:
    return sql("SELECT to_regclass(%s) IS NOT NULL", [name])[0][0]


def steps_of(token: str) -> list[tuple]:
    return list(
        StepProgress.objects.filter(session_id=token)
        .order_by("step_number")
        .values_list("step_number", "step_name", "validation_passed", "time_spent", "attempts")
    )


def ex(completed=True, seconds=60, attempts=1, timestamp="2024-03-01T10:00:00Z"):
    return {
        "completed": completed,
        "timestamp": timestamp,
        "timeSpent": seconds,
        "attempts": attempts,
    }


@pytest.fixture
def shape_a():
    with connection.cursor() as cursor:
        run_sql(cursor, SHAPE_A)
        # The same person three times (case, spaces), once with a double-encoded exercises.
        insert(
            cursor,
            "workshop_students",
            student_email="Ann@Example.org",
            student_name="Ann",
            started_at="2024-03-01T09:00:00Z",
            exercises=json.dumps(
                {
                    "step-1-connect-accounts": ex(seconds=100),
                    "choose-use-case": ex(seconds=50, attempts=2),
                }
            ),
        )
        cursor.execute(
            "INSERT INTO workshop_students (student_email, started_at, exercises) "
            "VALUES ('  ann@example.ORG ', '2024-03-02T09:00:00Z', %s::jsonb)",
            [
                double_encoded(
                    {
                        "step-0-connect-accounts": ex(seconds=10),
                        "step-6-custom-ai-prompt": ex(completed=False, seconds=5),
                        "step-12": ex(),
                        "unknown": ex(),
                        "exercise-x": ex(),
                    }
                )
            ],
        )
        insert(
            cursor,
            "workshop_students",
            student_email="ANN@example.org",
            started_at="2024-03-03T09:00:00Z",
            session_token="ws_ann_3",
            exercises="{}",
        )
        # Placeholders: never merged, each its own anonymous student.
        for email, day in [
            ("unknown@example.com", 4),
            ("unknown@example.com", 5),
            ("anonymous_ws_1709283600000", 6),
            ("student_1709283600000", 7),
            ("unknown_ws_abc@example.com", 8),
        ]:
            insert(
                cursor,
                "workshop_students",
                student_email=email,
                started_at=f"2024-03-0{day}T09:00:00Z",
                exercises=json.dumps({"step-9-multichannel": ex(seconds=9)}),
            )
        # Bad JSON: skipped and reported.
        cursor.execute(
            "INSERT INTO workshop_students (student_email, exercises) "
            "VALUES ('bob@example.org', '\"{not json\"')"
        )
        cursor.execute(
            "INSERT INTO workshop_students (student_email, exercises) "
            "VALUES ('bob@example.org', '[1, 2]')"
        )


def test_shape_a_students_are_merged_by_trimmed_lowercased_email(shape_a):
    out = migrate()

    ann = Student.objects.get(student_email="ann@example.org")
    assert ann.student_name == "Ann"
    assert sorted(ann.sessions.values_list("session_token", flat=True)) == sorted(
        [
            derived_token("ann@example.org", _utc("2024-03-01T09:00:00")),
            derived_token("ann@example.org", _utc("2024-03-02T09:00:00")),
            "ws_ann_3",
        ]
    )
    assert not Student.objects.filter(student_email__startswith="bob").exists()
    assert "Created 6 students" in out


def test_placeholders_become_distinct_anonymous_students(shape_a):
    migrate()

    anonymous = Student.objects.anonymous()
    assert anonymous.count() == 5
    for student in anonymous:
        (session,) = student.sessions.all()
        assert student.student_email == anonymous_email(anonymous_key(session.session_token))
        assert steps_of(session.session_token) == [(9, "Deploy", True, 9, 1)]
    assert Student.objects.count() == 6


def test_exercises_map_to_steps_and_totals_are_recalculated(shape_a):
    migrate()

    first = derived_token("ann@example.org", _utc("2024-03-01T09:00:00"))
    second = derived_token("ann@example.org", _utc("2024-03-02T09:00:00"))
    assert steps_of(first) == [(1, "Setup", True, 100, 1), (2, "Use Case", True, 50, 2)]
    # Double-encoded; 0-based numbers with long names; out-of-range and unknown keys skipped.
    assert steps_of(second) == [(1, "Setup", True, 10, 1), (7, "Prompt Engineering", False, 5, 1)]
    session = WorkshopSession.objects.get(pk=first)
    assert (session.completion_rate, session.total_time_spent, session.current_step) == (22, 150, 2)
    session = WorkshopSession.objects.get(pk=second)
    assert (session.completion_rate, session.total_time_spent, session.current_step) == (11, 10, 7)
    step = StepProgress.objects.get(session_id=first, step_number=1)
    assert step.completed_at.isoformat() == "2024-03-01T10:00:00+00:00"
    assert step.student_id == session.student_id


def test_migrated_totals_are_the_session_totals_rule(shape_a):
    # The migration's set-based SQL computes the totals itself; the rule's own batch
    # recalculation (progress.totals) must find nothing to repair in what it wrote.
    migrate()

    report = recalculate_all_sessions(dry_run=True)

    assert (report.checked, report.repaired) == (WorkshopSession.objects.count(), 0)
    assert report.checked > 0


def test_bad_rows_and_unmappable_keys_are_reported(shape_a):
    out = migrate()

    assert "Skipped 2 bad rows:" in out
    assert re.search(r"workshop_students \d+: exercises is not valid JSON", out)
    assert re.search(r"workshop_students \d+: exercises is not an object", out)
    assert "Skipped 3 exercise entries" in out
    for key in ("'step-12': 1", "'unknown': 1", "'exercise-x': 1"):
        assert key in out


def test_one_data_migrated_event_per_session(shape_a):
    migrate()

    events = Event.objects.filter(event_type=EventType.DATA_MIGRATED)
    assert events.count() == WorkshopSession.objects.count() == 8
    event = events.get(session_id="ws_ann_3")
    assert event.student_id == WorkshopSession.objects.get(pk="ws_ann_3").student_id
    assert event.event_data["source"] == "workshop_students"
    assert event.event_data["steps"] == 0


def test_tables_are_renamed_with_a_timestamp_not_dropped(shape_a):
    out = migrate()

    assert not table_exists("workshop_students")
    (renamed,) = re.findall(r"Renamed workshop_students to (workshop_students_backup_\d{14})", out)
    assert sql(f'SELECT count(*) FROM "{renamed}"') == [(10,)]


def test_second_run_adds_nothing_and_says_so(shape_a):
    migrate("--keep-tables")
    counts = row_counts()

    out = migrate("--keep-tables")

    assert counts == row_counts() == (6, 8, 9, 8)
    assert "8 already migrated (left alone), 0 created" in out
    assert "Nothing to migrate" in out
    assert table_exists("workshop_students")


def test_run_after_new_legacy_rows_adds_only_those(shape_a):
    migrate("--keep-tables")
    with connection.cursor() as cursor:
        insert(
            cursor,
            "workshop_students",
            student_email="ann@example.org",
            session_token="ws_ann_4",
            exercises=json.dumps({"step-3": ex()}),
        )
        insert(
            cursor,
            "workshop_students",
            student_email="unknown@example.com",
            session_token="ws_anon_9",
            exercises="{}",
        )

    out = migrate("--keep-tables")

    assert "2 created" in out
    assert WorkshopSession.objects.get(pk="ws_ann_4").student.student_email == "ann@example.org"
    assert steps_of("ws_ann_4") == [(3, "Services", True, 60, 1)]
    assert Student.objects.anonymous().count() == 6
    assert Event.objects.count() == 10


def test_failure_in_the_last_phase_leaves_everything_unchanged(shape_a, monkeypatch):
    def fail(*args):
        raise legacy_migration.LegacyMigrationError("disk full (injected)")

    monkeypatch.setattr(legacy_migration, "_rename_tables", fail)

    with pytest.raises(CommandError, match="nothing was changed: disk full"):
        migrate()

    assert row_counts() == (0, 0, 0, 0)
    assert sql("SELECT count(*) FROM workshop_students") == [(10,)]
    # A failed run does not block the next one (the old service refused to run again).
    monkeypatch.undo()
    migrate()
    assert WorkshopSession.objects.count() == 8


def test_database_error_half_way_rolls_everything_back(shape_a):
    """A real failure inside PostgreSQL after students, sessions and steps were written."""
    sql(
        "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'events are read-only today'; END $$"
    )
    sql(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
    )

    with pytest.raises(CommandError, match=r"nothing was changed: .*events are read-only today"):
        migrate()

    assert row_counts() == (0, 0, 0, 0)
    assert table_exists("workshop_students")


def test_dry_run_changes_nothing(shape_a):
    out = migrate("--dry-run")

    assert "8 created" in out
    assert "Dry run" in out
    assert Student.objects.count() == 0
    assert table_exists("workshop_students")


def test_missing_columns_read_as_defaults():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE workshop_students (id SERIAL PRIMARY KEY, "
            "student_email TEXT, exercises TEXT)"
        )
        insert(
            cursor,
            "workshop_students",
            student_email="min@example.org",
            exercises=json.dumps({"step2": ex(seconds=7)}),
        )

    migrate()

    (session,) = WorkshopSession.objects.all()
    assert session.student.student_email == "min@example.org"
    assert (session.demo_mode, session.tools, session.bug_reports, session.voice_settings) == (
        False,
        [],
        [],
        {},
    )
    assert steps_of(session.session_token) == [(2, "Use Case", True, 7, 1)]


@pytest.fixture
def shape_d():
    with connection.cursor() as cursor:
        run_sql(cursor, SHAPE_C, SHAPE_D_EXTRA, WORKSHOP_SESSIONS)
        insert(
            cursor,
            "workshop_students",
            session_token="ws_plain",
            student_email="p@example.org",
            openai_api_key="sk-plain-123",
            system_prompt="Be kind",
            demo_mode=True,
            tools=double_encoded([{"name": "lookup"}]),
            voice_settings='{"speed": 1.2}',
            bug_reports=double_encoded([{"text": "it broke"}]),
            exercises=double_encoded({"step-4-basic-twiml": ex(seconds=40)}),
        )
        insert(
            cursor,
            "workshop_students",
            session_token="ws_old",
            student_email="o@example.org",
            openai_api_key=legacy_ciphertext("sk-old-456"),
            exercises="{}",
        )
        insert(
            cursor,
            "workshop_students",
            session_token="ws_badtools",
            student_email="t@example.org",
            tools='"[oops"',
            exercises="{}",
        )
        insert(
            cursor,
            "workshop_sessions",
            session_id="ws_cred",
            student_id="c@example.org",
            account_sid="AC123",
            auth_token="twilio-secret-token",
            api_key_secret="twilio-key-secret",
            created_at="2024-01-01T00:00:00Z",
            expires_at="2024-01-02T00:00:00Z",
            is_demo_mode=True,
        )
        insert(
            cursor, "workshop_sessions", session_id="ws_nomail", student_id="student_1700000000000"
        )


def test_shape_d_configuration_json_and_plaintext_key(shape_d):
    migrate()

    session = WorkshopSession.objects.get(pk="ws_plain")
    assert (
        session.system_prompt,
        session.demo_mode,
        session.tools,
        session.voice_settings,
        session.bug_reports,
    ) == ("Be kind", True, [{"name": "lookup"}], {"speed": 1.2}, [{"text": "it broke"}])
    assert session.openai_api_key != "sk-plain-123"
    assert decrypt_secret(session.openai_api_key) == "sk-plain-123"
    assert steps_of("ws_plain") == [(4, "Basic TwiML", True, 40, 1)]
    assert not WorkshopSession.objects.filter(pk="ws_badtools").exists()


def test_old_ciphertext_without_the_old_key_is_dropped_and_counted(shape_d):
    out = migrate()

    assert WorkshopSession.objects.get(pk="ws_old").openai_api_key is None
    assert "openai_api_key dropped no legacy key: 1" in out
    assert "openai_api_key encrypted plaintext: 1" in out


def test_old_ciphertext_is_decrypted_with_the_old_key(shape_d):
    out = migrate("--legacy-encryption-key", LEGACY_KEY_HEX)

    assert decrypt_secret(WorkshopSession.objects.get(pk="ws_old").openai_api_key) == "sk-old-456"
    assert "openai_api_key decrypted legacy: 1" in out


def test_a_wrong_old_key_drops_and_counts(shape_d):
    out = migrate("--legacy-encryption-key", "ff" * 32)

    assert WorkshopSession.objects.get(pk="ws_old").openai_api_key is None
    assert "openai_api_key dropped undecryptable: 1" in out


def test_malformed_old_key_is_refused_before_anything_runs(shape_d):
    with pytest.raises(CommandError, match="64 hexadecimal"):
        migrate("--legacy-encryption-key", "abc")
    assert table_exists("workshop_students")


def test_workshop_sessions_migrate_without_twilio_secrets(shape_d):
    migrate()

    cred = WorkshopSession.objects.get(pk="ws_cred")
    assert cred.student.student_email == "c@example.org"
    assert (cred.demo_mode, cred.is_active) == (True, False)
    assert cred.expires_at.isoformat() == "2024-01-02T00:00:00+00:00"
    nomail = WorkshopSession.objects.get(pk="ws_nomail")
    assert nomail.student.is_anonymous
    dumped = json.dumps(sql("SELECT row_to_json(s)::text FROM sessions s")) + json.dumps(
        sql("SELECT row_to_json(s)::text FROM students s")
    )
    assert "twilio-secret-token" not in dumped
    assert "twilio-key-secret" not in dumped
    assert not table_exists("workshop_sessions")


def test_student_configs_merge_with_zero_based_current_step():
    with connection.cursor() as cursor:
        run_sql(cursor, SHAPE_C, STUDENT_CONFIGS)
        insert(
            cursor,
            "workshop_students",
            session_token="ws_cfg",
            student_email="cfg@example.org",
            exercises=json.dumps({"step-2-choose-use-case": ex()}),
        )
        insert(
            cursor,
            "student_configs",
            session_token="ws_cfg",
            student_email="cfg@example.org",
            current_step=4,
            system_prompt="From config",
            openai_api_key="sk-cfg",
            twilio_auth_token="never-copy-me",
            tools='[{"name": "t"}]',
        )
        insert(
            cursor,
            "student_configs",
            session_token="ws_only_cfg",
            student_email="solo@example.org",
            current_step=0,
            call_direction="inbound",
        )

    out = migrate("--include-configs")

    session = WorkshopSession.objects.get(pk="ws_cfg")
    assert (
        session.current_step,
        session.completion_rate,
        session.system_prompt,
        session.tools,
    ) == (5, 11, "From config", [{"name": "t"}])
    assert decrypt_secret(session.openai_api_key) == "sk-cfg"
    solo = WorkshopSession.objects.get(pk="ws_only_cfg")
    assert (solo.current_step, solo.call_direction, solo.student.student_email) == (
        1,
        "inbound",
        "solo@example.org",
    )
    assert "never-copy-me" not in json.dumps(sql("SELECT row_to_json(s)::text FROM sessions s"))
    assert "Renamed student_configs to student_configs_backup_" in out


def test_student_configs_are_ignored_without_the_option():
    with connection.cursor() as cursor:
        run_sql(cursor, STUDENT_CONFIGS)
        insert(
            cursor, "student_configs", session_token="ws_only_cfg", student_email="s@example.org"
        )

    out = migrate()

    assert WorkshopSession.objects.count() == 0
    assert table_exists("student_configs")
    assert "Nothing to migrate" in out


def test_no_legacy_tables_is_reported_not_an_error():
    out = migrate()

    assert "no legacy tables found" in out


@pytest.fixture
def source_database(settings):
    """A second database holding the legacy tables, as --source-url reads them."""
    base = settings.DATABASES["default"]
    name = f"{base['NAME']}_legacy_source"
    admin_url = f"postgresql://{base['USER']}@{base['HOST']}:{base['PORT'] or 5432}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_source_url_reads_another_database_and_renames_there(source_database):
    with psycopg.connect(source_database) as source:
        source.execute(SHAPE_C)
        source.execute(
            "INSERT INTO workshop_students (session_token, student_email, exercises) "
            "VALUES ('ws_remote', 'Remote@Example.org', %s::jsonb)",
            [double_encoded({"step-5-websocket-handler": ex(seconds=3)})],
        )

    out = migrate("--source-url", source_database)

    session = WorkshopSession.objects.get(pk="ws_remote")
    assert session.student.student_email == "remote@example.org"
    assert steps_of("ws_remote") == [(5, "WebSocket Handler", True, 3, 1)]
    assert "Renamed workshop_students to workshop_students_backup_" in out
    with psycopg.connect(source_database) as source:
        assert source.execute("SELECT to_regclass('workshop_students')").fetchone() == (None,)


def test_unreachable_source_is_a_clear_error():
    with pytest.raises(CommandError, match="nothing was changed: cannot connect to the source"):
        migrate("--source-url", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")


def _utc(text):
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)
