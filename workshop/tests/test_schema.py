"""The migrated PostgreSQL schema behaves like docs/spec/schema-v2.md's DDL, point by point.

Everything here goes through raw SQL, as operators and the spec's queries do.
"""

import datetime as dt
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else []


def one(sql: str, params: list | None = None) -> tuple:
    rows = fetch(sql, params)
    assert len(rows) == 1, rows
    return rows[0]


def insert_student(email: str = "ada@example.com") -> uuid.UUID:
    return one("INSERT INTO students (student_email) VALUES (%s) RETURNING student_id", [email])[0]


def insert_session(student_id: uuid.UUID, token: str = "ws_1") -> str:
    fetch("INSERT INTO sessions (session_token, student_id) VALUES (%s, %s)", [token, student_id])
    return token


def insert_step(token: str, student_id, number: int, passed: bool, time_spent: int) -> int:
    return one(
        "INSERT INTO step_progress (session_token, student_id, step_number, step_name,"
        " validation_passed, time_spent) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        [token, student_id, number, f"Step {number}", passed, time_spent],
    )[0]


def column_types(table: str) -> dict[str, tuple[str, str, str | None]]:
    rows = fetch(
        "SELECT column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_name = %s",
        [table],
    )
    return {name: (dtype, nullable, default) for name, dtype, nullable, default in rows}


def test_students_columns_match_the_spec():
    assert column_types("students") == {
        "student_id": ("uuid", "NO", "gen_random_uuid()"),
        "student_email": ("text", "NO", None),
        "student_name": ("text", "YES", None),
        "twilio_account_sid": ("text", "YES", None),
        "github_username": ("text", "YES", None),
        "created_at": ("timestamp with time zone", "YES", "now()"),
        "updated_at": ("timestamp with time zone", "YES", "now()"),
    }


def test_sessions_columns_match_the_spec():
    text = ("text", "YES", None)
    assert column_types("sessions") == {
        "session_token": ("text", "NO", None),
        "student_id": ("uuid", "NO", None),
        "started_at": ("timestamp with time zone", "YES", "now()"),
        "last_activity": ("timestamp with time zone", "YES", "now()"),
        "expires_at": ("timestamp with time zone", "YES", "(now() + '24:00:00'::interval)"),
        "is_active": ("boolean", "YES", "true"),
        "demo_mode": ("boolean", "YES", "false"),
        "current_step": ("integer", "YES", "0"),
        "total_time_spent": ("integer", "YES", "0"),
        "completion_rate": ("integer", "YES", "0"),
        "use_case_description": text,
        "call_direction": text,
        "selected_phone_number": text,
        "tts_provider": text,
        "selected_voice": text,
        "openai_api_key": text,
        "system_prompt": text,
        "ivr_greeting": text,
        "tools": ("jsonb", "YES", "'[]'::jsonb"),
        "voice_settings": ("jsonb", "YES", "'{}'::jsonb"),
        "websocket_url": text,
        "codespace_url": text,
        "github_repo_url": text,
        "railway_url": text,
        "bug_reports": ("jsonb", "YES", "'[]'::jsonb"),
        "created_at": ("timestamp with time zone", "YES", "now()"),
        "updated_at": ("timestamp with time zone", "YES", "now()"),
    }


def test_step_progress_columns_match_the_spec():
    assert column_types("step_progress") == {
        "id": ("integer", "NO", "nextval('step_progress_id_seq'::regclass)"),
        "session_token": ("text", "NO", None),
        "student_id": ("uuid", "NO", None),
        "step_number": ("integer", "NO", None),
        "step_name": ("text", "NO", None),
        "started_at": ("timestamp with time zone", "YES", "now()"),
        "completed_at": ("timestamp with time zone", "YES", None),
        "time_spent": ("integer", "YES", "0"),
        "attempts": ("integer", "YES", "0"),
        "validation_passed": ("boolean", "YES", "false"),
        "code_submitted": ("text", "YES", None),
        "deployment_url": ("text", "YES", None),
        "created_at": ("timestamp with time zone", "YES", "now()"),
        "updated_at": ("timestamp with time zone", "YES", "now()"),
    }


def test_events_columns_match_the_spec():
    assert column_types("events") == {
        "id": ("integer", "NO", "nextval('events_id_seq'::regclass)"),
        "student_id": ("uuid", "YES", None),
        "session_token": ("text", "YES", None),
        "event_type": ("text", "NO", None),
        "event_data": ("jsonb", "YES", "'{}'::jsonb"),
        "created_at": ("timestamp with time zone", "YES", "now()"),
    }


def test_spec_indexes_exist():
    rows = fetch(
        "SELECT tablename, indexdef FROM pg_indexes"
        " WHERE tablename IN ('students', 'sessions', 'step_progress', 'events')"
    )
    columns_by_table = {}
    for table, indexdef in rows:
        columns = indexdef[indexdef.rindex("(") + 1 : indexdef.rindex(")")]
        columns_by_table.setdefault(table, set()).add(columns)
    assert columns_by_table == {
        "students": {"student_id", "student_email"},
        # Beyond the spec: started_at serves the workshop runs' time windows.
        "sessions": {
            "session_token",
            "student_id",
            "last_activity",
            "is_active, expires_at",
            "started_at",
        },
        # Beyond the spec: (step_number, time_spent, validation_passed) serves the funnel.
        "step_progress": {
            "id",
            "session_token",
            "student_id",
            "session_token, step_number",
            "step_number, time_spent, validation_passed",
        },
        # Beyond the spec: (created_at, id) serves the dashboards' latest-events list.
        "events": {"id", "student_id", "session_token", "created_at, id"},
    }


def test_unique_constraints_of_the_spec():
    rows = fetch(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'u' AND conrelid::regclass::text IN"
        " ('students', 'sessions', 'step_progress', 'events') ORDER BY 1"
    )
    assert rows == [
        ("step_progress", "UNIQUE (session_token, step_number)"),
        ("students", "UNIQUE (student_email)"),
    ]


def test_every_foreign_key_cascades_in_the_database():
    rows = fetch(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid::regclass::text IN"
        " ('students', 'sessions', 'step_progress', 'events') ORDER BY 1, 2"
    )
    assert rows == [
        (
            "events",
            "FOREIGN KEY (session_token) REFERENCES sessions(session_token) ON DELETE CASCADE",
        ),
        ("events", "FOREIGN KEY (student_id) REFERENCES students(student_id) ON DELETE CASCADE"),
        ("sessions", "FOREIGN KEY (student_id) REFERENCES students(student_id) ON DELETE CASCADE"),
        (
            "step_progress",
            "FOREIGN KEY (session_token) REFERENCES sessions(session_token) ON DELETE CASCADE",
        ),
        (
            "step_progress",
            "FOREIGN KEY (student_id) REFERENCES students(student_id) ON DELETE CASCADE",
        ),
    ]


def test_insert_with_required_columns_only_gets_the_spec_defaults():
    student_id = insert_student()
    assert isinstance(student_id, uuid.UUID)
    token = insert_session(student_id)
    now, expires_at, started_at, last_activity, created_at, updated_at, *rest = one(
        "SELECT NOW(), expires_at, started_at, last_activity, created_at, updated_at,"
        " is_active, demo_mode, current_step, total_time_spent, completion_rate,"
        " jsonb_typeof(tools) || ':' || tools::text, jsonb_typeof(voice_settings) || ':' ||"
        " voice_settings::text, jsonb_typeof(bug_reports) || ':' || bug_reports::text,"
        " openai_api_key FROM sessions"
        " WHERE session_token = %s",
        [token],
    )
    assert expires_at - now == dt.timedelta(hours=24)
    assert started_at == last_activity == created_at == updated_at == now
    assert rest == [True, False, 0, 0, 0, "array:[]", "object:{}", "array:[]", None]

    step_id = insert_step(token, student_id, 1, False, 0)
    assert one(
        "SELECT started_at = NOW(), completed_at, time_spent, attempts, validation_passed,"
        " code_submitted, deployment_url FROM step_progress WHERE id = %s",
        [step_id],
    ) == (True, None, 0, 0, False, None, None)

    event = one(
        "INSERT INTO events (event_type) VALUES ('session_created')"
        " RETURNING student_id, session_token, event_data::text, created_at = NOW()"
    )
    assert event == (None, None, "{}", True)


def test_serial_ids_increase():
    student_id = insert_student()
    token = insert_session(student_id)
    first = insert_step(token, student_id, 1, False, 0)
    second = insert_step(token, student_id, 2, False, 0)
    assert second == first + 1


def test_duplicate_email_is_rejected():
    insert_student("same@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_student("same@example.com")


def test_duplicate_step_of_a_session_is_rejected():
    student_id = insert_student()
    token = insert_session(student_id)
    insert_step(token, student_id, 3, False, 0)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_step(token, student_id, 3, True, 10)


@pytest.mark.parametrize("number", [0, 10, -1])
def test_step_numbers_outside_the_catalogue_are_rejected(number):
    student_id = insert_student()
    token = insert_session(student_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_step(token, student_id, number, False, 0)


def test_raw_delete_of_a_student_cascades_to_everything_under_it():
    keep = insert_student("keep@example.com")
    insert_session(keep, "ws_keep")
    insert_step("ws_keep", keep, 1, True, 5)
    gone = insert_student("gone@example.com")
    insert_session(gone, "ws_gone")
    insert_step("ws_gone", gone, 1, True, 5)
    fetch(
        "INSERT INTO events (student_id, session_token, event_type) VALUES"
        " (%s, 'ws_gone', 'step_progress'), (%s, 'ws_keep', 'step_progress')",
        [gone, keep],
    )

    fetch("DELETE FROM students WHERE student_id = %s", [gone])

    assert fetch("SELECT session_token FROM sessions") == [("ws_keep",)]
    assert fetch("SELECT session_token FROM step_progress") == [("ws_keep",)]
    assert fetch("SELECT session_token FROM events") == [("ws_keep",)]


def test_raw_delete_of_a_session_cascades_to_its_steps_and_events():
    student_id = insert_student()
    insert_session(student_id, "ws_a")
    insert_session(student_id, "ws_b")
    insert_step("ws_a", student_id, 1, True, 5)
    insert_step("ws_b", student_id, 1, True, 5)
    fetch(
        "INSERT INTO events (student_id, session_token, event_type) VALUES"
        " (%s, 'ws_a', 'step_progress'), (%s, 'ws_b', 'step_progress')",
        [student_id, student_id],
    )

    fetch("DELETE FROM sessions WHERE session_token = 'ws_a'")

    assert fetch("SELECT session_token FROM step_progress") == [("ws_b",)]
    assert fetch("SELECT session_token FROM events") == [("ws_b",)]
    assert fetch("SELECT COUNT(*) FROM students") == [(1,)]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("students", "student_id"),
        ("sessions", "session_token"),
        ("step_progress", "id"),
    ],
)
def test_raw_update_refreshes_updated_at(table, key):
    student_id = insert_student()
    token = insert_session(student_id)
    step_id = insert_step(token, student_id, 1, False, 0)
    row_key = {"students": student_id, "sessions": token, "step_progress": step_id}[table]
    old = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    # A raw UPDATE that sets updated_at itself is overridden too: the trigger owns the column.
    fetch(f"UPDATE {table} SET updated_at = %s WHERE {key} = %s", [old, row_key])

    created_at, updated_at, now = one(
        f"SELECT created_at, updated_at, NOW() FROM {table} WHERE {key} = %s", [row_key]
    )

    assert updated_at == now
    assert created_at == now


def test_update_session_progress_function_follows_the_spec():
    student_id = insert_student()
    token = insert_session(student_id)
    fetch(
        "UPDATE sessions SET last_activity = '2000-01-01T00:00:00Z' WHERE session_token = %s",
        [token],
    )
    insert_step(token, student_id, 1, True, 100)
    insert_step(token, student_id, 2, True, 200)
    insert_step(token, student_id, 3, False, 999)  # not passed: neither counted nor timed

    fetch("SELECT update_session_progress(%s)", [token])

    assert one(
        "SELECT completion_rate, total_time_spent, last_activity = NOW() FROM sessions"
        " WHERE session_token = %s",
        [token],
    ) == (22, 300, True)


def test_update_session_progress_source_is_the_spec_text():
    source = one("SELECT prosrc FROM pg_proc WHERE proname = 'update_session_progress'")[0]
    assert "ROUND((completed_steps::NUMERIC / total_steps) * 100)" in source
    assert "total_steps INTEGER := 9;" in source
    assert one(
        "SELECT pg_get_function_identity_arguments(oid), prorettype::regtype::text"
        " FROM pg_proc WHERE proname = 'update_session_progress'"
    ) == ("p_session_token text", "void")


class TestSpecQueriesRunVerbatim:
    """The four example queries of the spec, copied character for character."""

    @pytest.fixture
    def data(self):
        ada = insert_student("student@example.com")
        fetch("UPDATE students SET student_name = 'John Doe' WHERE student_id = %s", [ada])
        insert_session(ada, "ws_old")
        insert_session(ada, "ws_new")
        fetch(
            "UPDATE sessions SET last_activity = NOW() - INTERVAL '2 days', completion_rate = 33,"
            " current_step = 3 WHERE session_token = 'ws_old'"
        )
        fetch("UPDATE sessions SET completion_rate = 100 WHERE session_token = 'ws_new'")
        insert_student("nobody@example.com")
        insert_step("ws_old", ada, 1, True, 300)
        insert_step("ws_old", ada, 2, False, 100)
        insert_step("ws_new", ada, 1, True, 100)
        return ada

    def test_sessions_of_a_student(self, data):
        rows = fetch(
            """SELECT s.*, st.student_email, st.student_name
FROM sessions s
JOIN students st ON s.student_id = st.student_id
WHERE st.student_email = 'student@example.com'
ORDER BY s.last_activity DESC;"""
        )
        assert [row[0] for row in rows] == ["ws_new", "ws_old"]
        assert rows[0][-2:] == ("student@example.com", "John Doe")

    def test_completion_summary(self, data):
        rows = fetch(
            """SELECT
  st.student_email,
  st.student_name,
  COUNT(DISTINCT s.session_token) as total_sessions,
  AVG(s.completion_rate) as avg_completion,
  MAX(s.last_activity) as last_active
FROM students st
LEFT JOIN sessions s ON st.student_id = s.student_id
GROUP BY st.student_id, st.student_email, st.student_name;"""
        )
        summary = {row[0]: row[1:4] for row in rows}
        assert summary["nobody@example.com"] == (None, 0, None)
        assert summary["student@example.com"][:2] == ("John Doe", 2)
        assert float(summary["student@example.com"][2]) == 66.5

    def test_step_funnel(self, data):
        rows = fetch(
            """SELECT
  step_number,
  step_name,
  COUNT(*) as attempts,
  SUM(CASE WHEN validation_passed THEN 1 ELSE 0 END) as completed,
  ROUND(AVG(time_spent)) as avg_time_seconds
FROM step_progress
GROUP BY step_number, step_name
ORDER BY step_number;"""
        )
        assert [(n, name, a, c, int(t)) for n, name, a, c, t in rows] == [
            (1, "Step 1", 2, 2, 200),
            (2, "Step 2", 1, 0, 100),
        ]

    def test_stuck_students(self, data):
        rows = fetch(
            """SELECT
  st.student_email,
  s.current_step,
  s.last_activity,
  NOW() - s.last_activity as time_inactive
FROM sessions s
JOIN students st ON s.student_id = st.student_id
WHERE
  s.is_active = TRUE
  AND s.last_activity < NOW() - INTERVAL '24 hours'
  AND s.completion_rate < 100
ORDER BY s.last_activity ASC;"""
        )
        assert [(email, step, inactive) for email, step, _, inactive in rows] == [
            ("student@example.com", 3, dt.timedelta(days=2))
        ]
