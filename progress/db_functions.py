"""The progress API's hot paths as PostgreSQL functions: one statement per request.

- `wp_session_reply(token) -> json`: a session as its token holder sees it, exactly the body
  `progress.replies.session_body` builds (GET ?sessionToken=, and every progress POST's reply);
- `wp_record_progress(...) -> json`: THE write rule of the progress POST on PostgreSQL (the
  Python service `progress.services.record_progress_in_python` is its SQLite form): the session
  locked or inserted, the student found or created, the claim, 409/410, the step, the totals,
  the expiry, the events and the outbox, then the reply; returns {"reply", "outbox"}.

Why functions: a POST through the ORM took 9 to 14 round trips and most of its CPU compiling
them (docs/benchmarks.md); one call is one round trip and plpgsql caches its plans per
connection. The rules that are pure Python (e-mail normalisation, usable names, step titles)
are applied by the caller and passed in; the rules whose home is elsewhere are generated from
that home, not copied: the configuration fields (workshop/session_config.py), the totals
statement (progress/totals.py REFRESH_TOTALS_SQL), the outbox topics
(analytics/integrations/services.py EVENT_TOPICS, through analytics/events.py), the event
types and the step key (analytics/models.py), the anonymous address (workshop/models.py).

The functions are installed (CREATE OR REPLACE) after every `migrate` by the post_migrate hook
in progress/apps.py, so the database always runs the code's version;
progress/tests/test_db_functions.py checks the installed source and runs both
implementations of each rule on the same cases. The spec's own tables, functions and
triggers are untouched.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection as default_connection

from analytics.events import OUTBOX_TABLE, SESSION_COMPLETED_TOPIC, news_topics
from analytics.models import EVENT_STEP_KEY, EventType
from progress.totals import MAX_SECONDS, REFRESH_TOTALS_SQL
from workshop.models import ANONYMOUS_EMAIL_DOMAIN, anonymous_email
from workshop.session_config import SESSION_CONFIG, Kind

# The SQLSTATEs wp_record_progress raises when it refuses a write (class "WP" is ours; no
# PostgreSQL class uses it). progress.services maps them to the API's errors.
SESSION_NOT_FOUND_STATE = "WP404"
SESSION_TAKEN_STATE = "WP409"
SESSION_CLOSED_STATE = "WP410"


@dataclass(frozen=True)
class DbFunction:
    name: str
    arguments: str  # as pg_get_function_arguments() shows them
    returns: str
    language: str
    volatility: str
    body: str

    def create_sql(self) -> str:
        return (
            f"CREATE OR REPLACE FUNCTION {self.name}({self.arguments}) RETURNS {self.returns}\n"
            f"LANGUAGE {self.language} {self.volatility} AS $wp${self.body}$wp$"
        )


# --------------------------------------------------------------------------------------------
# Helpers of the reply
# --------------------------------------------------------------------------------------------
# workshop.formatting.iso_z: ISO 8601 in UTC with "Z", the fraction only when there is one
# (Python's isoformat omits ".000000").
ISO_Z = DbFunction(
    name="wp_iso_z",
    arguments="value timestamp with time zone",
    returns="text",
    language="sql",
    volatility="STABLE",
    body="""
  SELECT to_char(value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
      || CASE WHEN date_trunc('second', value) = value THEN ''
              ELSE to_char(value AT TIME ZONE 'UTC', '.US') END
      || 'Z'
""",
)

# workshop.models.stored_json: a JSON column as an array or an object (`kind`, as
# jsonb_typeof names them), also when legacy data stored it double-encoded (a JSON string
# holding the JSON); anything else reads as an empty one.
STORED_JSON = DbFunction(
    name="wp_stored_json",
    arguments="value jsonb, kind text",
    returns="jsonb",
    language="plpgsql",
    volatility="IMMUTABLE",
    body="""
BEGIN
  IF jsonb_typeof(value) = 'string' THEN
    BEGIN
      value := (value #>> '{}')::jsonb;
    EXCEPTION WHEN data_exception THEN  -- not JSON (or not storable as jsonb): empty
      value := NULL;
    END;
  END IF;
  IF jsonb_typeof(value) = kind THEN
    RETURN value;
  END IF;
  RETURN CASE kind WHEN 'array' THEN '[]'::jsonb ELSE '{}'::jsonb END;
END
""",
)


def _stored_json_sql(column: str, kind: str) -> str:
    # The common case (the column holds the right kind) without a plpgsql call.
    return (
        f"CASE WHEN jsonb_typeof({column}) = '{kind}' THEN {column} "
        f"ELSE wp_stored_json({column}, '{kind}') END"
    )


def _configuration_sql() -> str:
    """The reply's configuration keys and values, from THE table of configuration fields."""
    pairs = []
    for field in SESSION_CONFIG:
        column = f"s.{field.column}"
        if field.is_secret:
            value = f"COALESCE({column} <> '', false)"
        elif field.kind is Kind.JSON_LIST:
            value = _stored_json_sql(column, "array")
        elif field.kind is Kind.JSON_OBJECT:
            value = _stored_json_sql(column, "object")
        else:
            value = column
        pairs.append(f"'{field.reply_key}', {value}")
    return ",\n      ".join(pairs)


def _is_anonymous_sql(email: str) -> str:
    """Student.is_anonymous: the address is under the reserved domain."""
    suffix = f"@{ANONYMOUS_EMAIL_DOMAIN}"
    return f"(right({email}, {len(suffix)}) = '{suffix}')"


# --------------------------------------------------------------------------------------------
# The reply (progress.replies.session_body)
# --------------------------------------------------------------------------------------------
SESSION_REPLY = DbFunction(
    name="wp_session_reply",
    arguments="p_session_token text",
    returns="json",
    language="plpgsql",
    volatility="STABLE",
    body=f"""
BEGIN
  -- json (not jsonb) keeps the keys in the order written here: session_body's order.
  RETURN (
    SELECT json_build_object(
      'session_token', s.session_token,
      -- selectors.reveals_student: an anonymous student, or this session created the student
      'student_id', CASE WHEN who.revealed THEN st.student_id::text END,
      'student_email', CASE WHEN NOT who.anonymous THEN st.student_email END,
      'student_name', CASE WHEN who.revealed THEN st.student_name END,
      'started_at', wp_iso_z(s.started_at),
      'last_activity', wp_iso_z(s.last_activity),
      'expires_at', wp_iso_z(s.expires_at),
      'is_active', COALESCE(s.is_active, false),
      'demo_mode', COALESCE(s.demo_mode, false),
      'current_step', COALESCE(s.current_step, 0),
      'total_time_spent', COALESCE(s.total_time_spent, 0),
      'completion_rate', COALESCE(s.completion_rate, 0),
      {_configuration_sql()},
      'bug_reports', {_stored_json_sql("s.bug_reports", "array")},
      'created_at', wp_iso_z(s.created_at),
      'updated_at', wp_iso_z(s.updated_at),
      'step_progress', (
        SELECT COALESCE(json_agg(json_build_object(
                 'stepNumber', p.step_number,
                 'stepName', p.step_name,
                 'completed', COALESCE(p.validation_passed, false),
                 'startedAt', wp_iso_z(p.started_at),
                 'completedAt', wp_iso_z(p.completed_at),
                 'timeSpent', COALESCE(p.time_spent, 0),
                 'attempts', COALESCE(p.attempts, 0),
                 'deploymentUrl', p.deployment_url
               ) ORDER BY p.step_number), '[]'::json)
        FROM step_progress p
        WHERE p.session_token = s.session_token))
    FROM sessions s
    JOIN students st ON st.student_id = s.student_id
    CROSS JOIN LATERAL (SELECT {_is_anonymous_sql("st.student_email")} AS anonymous) a
    CROSS JOIN LATERAL (
      SELECT a.anonymous OR EXISTS (
               SELECT 1 FROM student_creators c
               WHERE c.student_id = st.student_id AND c.session_token = s.session_token
             ) AS revealed,
             a.anonymous) who
    WHERE s.session_token = p_session_token);
END
""",
)


# --------------------------------------------------------------------------------------------
# The write rule (progress.services.record_progress_in_python)
# --------------------------------------------------------------------------------------------
# workshop.services.find_or_create_student: the unique index on the e-mail decides who creates;
# a caller that loses the race reads the winner's row. An existing row is left as it is.
FIND_OR_CREATE_STUDENT = DbFunction(
    name="wp_find_or_create_student",
    arguments="p_email text, p_name text, OUT student uuid, OUT created boolean",
    returns="record",
    language="plpgsql",
    volatility="VOLATILE",
    body="""
BEGIN
  INSERT INTO students (student_id, student_email, student_name)
  VALUES (gen_random_uuid(), p_email, p_name)
  ON CONFLICT (student_email) DO NOTHING
  RETURNING student_id INTO student;
  created := FOUND;
  IF NOT created THEN
    SELECT s.student_id INTO student FROM students s WHERE s.student_email = p_email;
  END IF;
END
""",
)

# The events this rule writes; of those, the ones the outside world hears about get an outbox
# row whose data is the step only (analytics.integrations.services.outbox_entries_for_events).
_WRITTEN_EVENTS = (
    EventType.SESSION_CREATED,
    EventType.STEP_STARTED,
    EventType.STEP_PROGRESS,
    EventType.STEP_COMPLETED,
    EventType.DEPLOYMENT_SUCCESS,
)
_NEWS_TOPICS = news_topics(event.value for event in _WRITTEN_EVENTS)
_TOPICS_VALUES = ", ".join(f"('{event}', '{topic}')" for event, topic in _NEWS_TOPICS.items())
# anonymous_email(key) with the key spliced in from SQL.
_ANON_PREFIX, _ANON_SUFFIX = anonymous_email("\x00").split("\x00")
# REFRESH_TOTALS_SQL's parameters, in order, as the function's variables.
_REFRESH_TOTALS = REFRESH_TOTALS_SQL.strip() % (
    ("p_session_token",) * 3 + ("v_now", "v_expires", "p_session_token")
)


def _lock_session_sql() -> str:
    # workshop.services.find_locked_session: FOR NO KEY UPDATE serializes writers of one
    # session while letting others insert rows that reference it.
    return """
  SELECT s.student_id, st.student_email, st.student_name, s.demo_mode,
         COALESCE(s.is_active, false) AND (s.expires_at IS NULL OR s.expires_at > v_now)
    INTO v_student_id, v_student_email, v_student_name, v_demo_mode, v_accepts
    FROM sessions s JOIN students st ON st.student_id = s.student_id
   WHERE s.session_token = p_session_token
     FOR NO KEY UPDATE OF s"""


RECORD_PROGRESS = DbFunction(
    name="wp_record_progress",
    arguments=(
        "p_session_token text, p_email text, p_name text, p_demo_mode boolean, "
        "p_step_number integer, p_step_name text, p_new_step_name text, p_completed boolean, "
        "p_time_spent integer, p_code text, p_deployment_url text, p_idle_limit interval, "
        "p_lifetime interval"
    ),
    returns="json",
    language="plpgsql",
    volatility="VOLATILE",
    body=f"""
-- p_email: normalised (workshop.models.normalize_email) or NULL; p_name: a usable name
-- (workshop.names) or NULL; p_step_number NULL: no step update; p_step_name: the name sent
-- or NULL; p_new_step_name: a new row's name (the one sent, else the catalogue's title);
-- p_idle_limit: PROGRESS_IDLE_LIMIT_SECONDS; p_lifetime: SESSION_LIFETIME_HOURS.
DECLARE
  v_now timestamptz := now();
  v_expires timestamptz := now() + p_lifetime;  -- workshop.expiry.slid_expiry
  v_student_id uuid;       -- the session's student (after a claim, the claiming one)
  v_student_email text;
  v_student_name text;
  v_demo_mode boolean;
  v_accepts boolean;       -- WorkshopSession.accepts_progress
  v_created boolean := false;
  v_student_created boolean := false;
  v_anonymous_id uuid;
  v_has_rows boolean := false;
  v_before_found boolean := false;
  v_before_passed boolean;
  v_before_attempts integer;
  v_last_step integer;
  v_last_seen timestamptz;
  v_step_created boolean := false;
  v_first_completion boolean := false;
  v_heartbeat boolean := false;
  v_time_added bigint := 0;
  v_attempts integer;
  v_rate integer;
  v_completed_news boolean := false;
  v_types text[] := '{{}}';
  v_data jsonb[] := '{{}}';
  v_outbox bigint[];
BEGIN
  ------------------------------------------------------------------ the session (_open_session)
  {_lock_session_sql()};
  IF NOT FOUND THEN
    -- A new session: for the student with this address (found or created), else for a new
    -- anonymous student named as sent.
    IF p_email IS NOT NULL THEN
      SELECT f.student, f.created INTO v_student_id, v_student_created
        FROM wp_find_or_create_student(p_email, p_name) f;
    ELSE
      INSERT INTO students (student_id, student_email, student_name)
      VALUES (gen_random_uuid(),
              '{_ANON_PREFIX}' || replace(gen_random_uuid()::text, '-', '') || '{_ANON_SUFFIX}',
              p_name)
      RETURNING student_id INTO v_student_id;
      v_anonymous_id := v_student_id;
    END IF;
    INSERT INTO sessions (session_token, student_id, demo_mode, expires_at)
    VALUES (p_session_token, v_student_id, COALESCE(p_demo_mode, false), v_expires)
    ON CONFLICT (session_token) DO NOTHING;
    v_created := FOUND;
    IF v_created THEN
      IF v_student_created THEN
        INSERT INTO student_creators (student_id, session_token)
        VALUES (v_student_id, p_session_token);
      END IF;
    ELSE
      -- Another request inserted it first: drop the anonymous student made for nothing, wait
      -- for the winner's lock, then carry on as an update.
      IF v_anonymous_id IS NOT NULL THEN
        DELETE FROM students WHERE student_id = v_anonymous_id;
      END IF;
      {_lock_session_sql()};
      IF NOT FOUND THEN
        RAISE EXCEPTION 'session not found' USING ERRCODE = '{SESSION_NOT_FOUND_STATE}';
      END IF;
    END IF;
  END IF;

  IF NOT v_created THEN
    IF NOT v_accepts THEN
      RAISE EXCEPTION 'session closed' USING ERRCODE = '{SESSION_CLOSED_STATE}';
    END IF;
    IF p_email IS NULL THEN
      NULL;
    ELSIF v_student_email = p_email THEN
      -- The same student. An email is a claim, not a proof: only the session that created
      -- the student (selectors.reveals_student) may fill a missing name, never replace one.
      IF p_name IS NOT NULL AND COALESCE(v_student_name, '') = ''
         AND ({_is_anonymous_sql("v_student_email")} OR EXISTS (
               SELECT 1 FROM student_creators c
               WHERE c.student_id = v_student_id AND c.session_token = p_session_token)) THEN
        UPDATE students SET student_name = p_name
         WHERE student_id = v_student_id AND student_name IS NULL;
      END IF;
    ELSIF {_is_anonymous_sql("v_student_email")} THEN
      -- The claim (_claim_session): the session, its steps and its events move to the real
      -- student; the anonymous one is deleted once it owns no session.
      v_anonymous_id := v_student_id;
      SELECT f.student, f.created INTO v_student_id, v_student_created
        FROM wp_find_or_create_student(p_email, p_name) f;
      IF v_student_created THEN
        INSERT INTO student_creators (student_id, session_token)
        VALUES (v_student_id, p_session_token);
      END IF;
      UPDATE sessions SET student_id = v_student_id WHERE session_token = p_session_token;
      UPDATE step_progress SET student_id = v_student_id WHERE session_token = p_session_token;
      UPDATE events SET student_id = v_student_id WHERE session_token = p_session_token;
      DELETE FROM students WHERE student_id = v_anonymous_id
         AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.student_id = v_anonymous_id);
    ELSE
      RAISE EXCEPTION 'session belongs to another student'
        USING ERRCODE = '{SESSION_TAKEN_STATE}';
    END IF;
  END IF;

  IF v_created THEN
    v_types := array_append(v_types, '{EventType.SESSION_CREATED.value}');
    v_data := array_append(v_data, '{{}}'::jsonb);
  ELSIF p_demo_mode IS NOT NULL AND p_demo_mode IS DISTINCT FROM v_demo_mode THEN
    UPDATE sessions SET demo_mode = p_demo_mode WHERE session_token = p_session_token;
  END IF;

  IF p_step_number IS NOT NULL THEN
    ---------------------------------------------------------------- the step (_write_step)
    IF NOT v_created THEN
      -- The session's previous request: its most recently written step row
      -- (progress.activity.last_seen_on_step).
      SELECT p.step_number, p.updated_at INTO v_last_step, v_last_seen
        FROM step_progress p
       WHERE p.session_token = p_session_token AND p.updated_at IS NOT NULL
       ORDER BY p.updated_at DESC LIMIT 1;
      SELECT true, p.validation_passed, p.attempts
        INTO v_before_found, v_before_passed, v_before_attempts
        FROM step_progress p
       WHERE p.session_token = p_session_token AND p.step_number = p_step_number;
      v_before_found := COALESCE(v_before_found, false);
      v_has_rows := v_before_found OR v_last_step IS NOT NULL
                    OR EXISTS (SELECT 1 FROM step_progress p
                                WHERE p.session_token = p_session_token);
    END IF;
    IF NOT v_before_found THEN
      -- The unique constraint decides whether this call creates the row.
      INSERT INTO step_progress (session_token, student_id, step_number, step_name, attempts,
                                 time_spent, validation_passed, completed_at, code_submitted,
                                 deployment_url)
      VALUES (p_session_token, v_student_id, p_step_number, p_new_step_name, 1, p_time_spent,
              p_completed, CASE WHEN p_completed THEN v_now END, p_code, p_deployment_url)
      ON CONFLICT (session_token, step_number) DO NOTHING;
      v_step_created := FOUND;
      IF v_step_created THEN
        v_first_completion := p_completed;
        v_attempts := 1;
        v_time_added := p_time_spent;
      ELSE
        -- A writer that does not lock the session got there first: update its row.
        v_before_passed := false;
        v_before_attempts := 0;
      END IF;
    END IF;
    IF NOT v_step_created THEN
      v_first_completion := p_completed AND NOT COALESCE(v_before_passed, false);
      v_time_added := p_time_spent;
      -- progress.activity.measured_seconds: without a client time, the whole seconds crossed
      -- since the previous request, when it was on this step and less than the idle limit ago.
      IF p_time_spent = 0 AND v_has_rows AND v_last_step = p_step_number
         AND v_now > v_last_seen AND v_now - v_last_seen < p_idle_limit THEN
        v_time_added := GREATEST(0, floor(extract(epoch FROM v_now))::bigint
                                    - floor(extract(epoch FROM v_last_seen))::bigint);
      END IF;
      -- progress.activity.is_heartbeat: nothing new but the activity.
      v_heartbeat := NOT v_first_completion AND p_time_spent = 0 AND p_code IS NULL
                     AND p_deployment_url IS NULL;
      -- updated_at: the spec's trigger stamps NOW().
      UPDATE step_progress p SET
        time_spent = CASE WHEN v_time_added <> 0
                          THEN LEAST(COALESCE(p.time_spent, 0)::bigint + v_time_added,
                                     {MAX_SECONDS})
                          ELSE p.time_spent END,
        step_name = COALESCE(p_step_name, p.step_name),
        attempts = CASE WHEN v_heartbeat THEN p.attempts ELSE COALESCE(p.attempts, 0) + 1 END,
        student_id = CASE WHEN v_heartbeat THEN p.student_id ELSE v_student_id END,
        validation_passed = CASE WHEN NOT v_heartbeat AND p_completed THEN true
                                 ELSE p.validation_passed END,
        -- completion is sticky: completed_at stays the first completion
        completed_at = CASE WHEN NOT v_heartbeat AND p_completed
                            THEN COALESCE(p.completed_at, v_now) ELSE p.completed_at END,
        code_submitted = CASE WHEN NOT v_heartbeat AND p_code IS NOT NULL THEN p_code
                              ELSE p.code_submitted END,
        deployment_url = CASE WHEN NOT v_heartbeat AND p_deployment_url IS NOT NULL
                              THEN p_deployment_url ELSE p.deployment_url END
      WHERE p.session_token = p_session_token AND p.step_number = p_step_number;
      v_attempts := COALESCE(v_before_attempts, 0) + CASE WHEN v_heartbeat THEN 0 ELSE 1 END;
    END IF;

    ----------------------------------------------------------- its events (_step_events)
    IF NOT v_heartbeat THEN
      IF v_step_created THEN
        v_types := array_append(v_types, '{EventType.STEP_STARTED.value}');
        v_data := array_append(v_data, jsonb_build_object('{EVENT_STEP_KEY}', p_step_number));
      END IF;
      v_types := array_append(v_types, '{EventType.STEP_PROGRESS.value}');
      v_data := array_append(v_data, jsonb_build_object(
        '{EVENT_STEP_KEY}', p_step_number, 'timeSpent', v_time_added,
        'completed', p_completed, 'attempts', v_attempts));
      IF v_first_completion THEN
        v_types := array_append(v_types, '{EventType.STEP_COMPLETED.value}');
        v_data := array_append(v_data, jsonb_build_object('{EVENT_STEP_KEY}', p_step_number));
      END IF;
      IF p_deployment_url IS NOT NULL THEN
        v_types := array_append(v_types, '{EventType.DEPLOYMENT_SUCCESS.value}');
        v_data := array_append(v_data, jsonb_build_object(
          '{EVENT_STEP_KEY}', p_step_number, 'url', p_deployment_url));
      END IF;
    END IF;

    -------------------------- the totals, the activity, the slid expiry (progress/totals.py)
    {_REFRESH_TOTALS} INTO v_rate;
    -- Completion is sticky, so the step whose first completion makes 100 finishes the
    -- session, once.
    v_completed_news := v_first_completion AND v_rate = 100;
  ELSIF NOT v_created THEN
    UPDATE sessions SET last_activity = v_now, expires_at = v_expires
     WHERE session_token = p_session_token;
  END IF;

  ---------------------------------------------- the events and their outbox rows, in order
  IF cardinality(v_types) > 0 THEN
    INSERT INTO events (student_id, session_token, event_type, event_data)
    SELECT v_student_id, p_session_token, e.event_type, e.event_data
      FROM unnest(v_types, v_data) WITH ORDINALITY AS e(event_type, event_data, n)
     ORDER BY e.n;
    WITH news AS (
      SELECT t.topic, jsonb_build_object('step', e.event_data -> '{EVENT_STEP_KEY}') AS data,
             e.n
        FROM unnest(v_types, v_data) WITH ORDINALITY AS e(event_type, event_data, n)
        JOIN (VALUES {_TOPICS_VALUES}) AS t(event_type, topic) ON t.event_type = e.event_type
      UNION ALL
      SELECT '{SESSION_COMPLETED_TOPIC}', '{{}}'::jsonb, cardinality(v_types) + 1
       WHERE v_completed_news
    ), inserted AS (
      INSERT INTO {OUTBOX_TABLE}
        (event_id, topic, student_id, session_token, data, dedupe_key, created_at,
         dispatched_at, body)
      SELECT gen_random_uuid(), news.topic, v_student_id, p_session_token, news.data, NULL,
             v_now, NULL, ''
        FROM news ORDER BY news.n
      RETURNING id
    )
    SELECT array_agg(inserted.id ORDER BY inserted.id) INTO v_outbox FROM inserted;
  END IF;

  RETURN json_build_object('reply', wp_session_reply(p_session_token),
                           'outbox', COALESCE(to_json(v_outbox), '[]'::json));
END
""",
)

FUNCTIONS = (ISO_Z, STORED_JSON, SESSION_REPLY, FIND_OR_CREATE_STUDENT, RECORD_PROGRESS)


# Versions of a function under another signature or result type: CREATE OR REPLACE would
# leave the first beside the new one (an overload) and refuse the second.
_STALE_VERSIONS_SQL = """
SELECT p.oid::regprocedure::text FROM pg_proc p
WHERE p.proname = %s AND p.pronamespace = current_schema()::regnamespace
  AND (pg_get_function_arguments(p.oid) <> %s OR pg_get_function_result(p.oid) <> %s)
"""


def install(connection=default_connection) -> None:
    """Create or replace every function, dropping any other version of it first (idempotent);
    PostgreSQL only."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for function in FUNCTIONS:
            cursor.execute(
                _STALE_VERSIONS_SQL, [function.name, function.arguments, function.returns]
            )
            for (signature,) in cursor.fetchall():
                cursor.execute(f"DROP FUNCTION {signature}")
            cursor.execute(function.create_sql())


def session_reply_text(*, session_token: str) -> str | None:
    """The reply of one session (wp_session_reply) as JSON text, or None when there is no such
    session."""
    with default_connection.cursor() as cursor:
        cursor.execute("SELECT wp_session_reply(%s)::text", [session_token])
        return cursor.fetchone()[0]


def session_reply(*, session_token: str) -> dict[str, Any] | None:
    """The reply of one session (wp_session_reply), or None when there is no such session."""
    text = session_reply_text(session_token=session_token)
    return None if text is None else json.loads(text)


def record_progress(params: list[Any]) -> dict[str, Any]:
    """Call wp_record_progress with its parameters in order; {"reply": ..., "outbox": [ids]}."""
    placeholders = ", ".join(["%s"] * len(params))
    with default_connection.cursor() as cursor:
        cursor.execute(f"SELECT wp_record_progress({placeholders})::text", params)
        return json.loads(cursor.fetchone()[0])
