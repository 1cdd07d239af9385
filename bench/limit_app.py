"""The benchmark's limit: a bare psycopg WSGI app doing the progress API's work in the fewest
statements on the same schema (not part of the product, not a second implementation).

It answers what the load scripts send (bench/wrk/*.lua) with the same statuses and reply
shape: POST /api/student-progress upserts the student (a new session with an email), the
session and the step, refreshes the session's totals, inserts the events and reads the reply
as one json_build_object, in one transaction of two statements; GET ?sessionToken= and
?studentId= are one statement each, building the reply JSON in PostgreSQL (by token: with the
app's own reply function, so both send the same reply). Rules it does not need for that load
(claiming an anonymous session, heartbeats, 409s) are left out, and the POST's reply skips the
API's timestamp format and privacy rules, so it is an upper bound of what the framework could
reach, not a replacement for it.

Served by gunicorn with the same settings as the app (bench/server.py, `app=LIMIT_APP`); each
worker keeps one psycopg connection for its life, as CONN_MAX_AGE does for Django.
"""

import json
import os
import re
from urllib.parse import parse_qs

import psycopg

# The catalogue's titles (no Django needed: workshop.steps is plain Python).
from workshop.steps import step_title

TOKEN = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")

# The session as its token holder sees it (the fields of progress.api.serializers'
# SessionSerializer), `s` a sessions row joined to its student `u`.
_SESSION_JSON = """json_build_object(
  'session_token', s.session_token,
  'student_id', CASE WHEN EXISTS (SELECT 1 FROM student_creators c
                                  WHERE c.student_id = s.student_id
                                    AND c.session_token = s.session_token)
                     THEN s.student_id END,
  'student_email', u.student_email, 'student_name', u.student_name,
  'started_at', s.started_at, 'last_activity', s.last_activity, 'expires_at', s.expires_at,
  'is_active', s.is_active, 'demo_mode', s.demo_mode, 'current_step', s.current_step,
  'total_time_spent', s.total_time_spent, 'completion_rate', s.completion_rate,
  'use_case_description', s.use_case_description, 'call_direction', s.call_direction,
  'selected_phone_number', s.selected_phone_number, 'tts_provider', s.tts_provider,
  'selected_voice', s.selected_voice, 'has_openai_api_key', s.openai_api_key IS NOT NULL,
  'system_prompt', s.system_prompt, 'ivr_greeting', s.ivr_greeting, 'tools', s.tools,
  'voice_settings', s.voice_settings, 'websocket_url', s.websocket_url,
  'codespace_url', s.codespace_url, 'github_repo_url', s.github_repo_url,
  'railway_url', s.railway_url, 'bug_reports', s.bug_reports, 'created_at', s.created_at,
  'updated_at', s.updated_at,
  'step_progress', (
    SELECT coalesce(json_agg(json_build_object(
      'stepNumber', p.step_number, 'stepName', p.step_name, 'completed', p.validation_passed,
      'startedAt', p.started_at, 'completedAt', p.completed_at, 'timeSpent', p.time_spent,
      'attempts', p.attempts, 'deploymentUrl', p.deployment_url) ORDER BY p.step_number),
      '[]')
    FROM step_progress p WHERE p.session_token = s.session_token))"""

# GET by token: the session exactly as the API answers it (its timestamp format, its rules on
# what an anonymous or claimed session reveals), built by the one-statement function the app
# calls (progress/db_functions.py): the same database work and the same bytes.
# bench_api.py checks that the two apps' replies agree before any load.
GET_BY_TOKEN = "SELECT wp_session_reply(%(token)s)::text"

GET_BY_STUDENT = """
SELECT json_build_object('success', true, 'sessions', coalesce((
  SELECT json_agg(json_build_object(
    'display_name', u.student_name, 'started_at', s.started_at,
    'last_activity', s.last_activity, 'is_active', s.is_active,
    'current_step', s.current_step, 'completion_rate', s.completion_rate,
    'total_time_spent', s.total_time_spent,
    'step_progress', (
      SELECT coalesce(json_agg(json_build_object(
        'stepNumber', p.step_number, 'stepName', p.step_name,
        'completed', p.validation_passed, 'timeSpent', p.time_spent) ORDER BY p.step_number),
        '[]')
      FROM step_progress p WHERE p.session_token = s.session_token))
    ORDER BY s.last_activity DESC)
  FROM sessions s WHERE s.student_id = u.student_id), '[]'))::text
FROM students u WHERE u.student_id = %(student)s
"""

# Statement 1: student (a new session with an email), session, step and events. The session
# upsert locks an existing row, so writers of one session run one after the other; a closed
# session matches nothing and nothing is written. The step's completed_at equals now() (the
# transaction's start) only when this call completed it first.
WRITE = """
WITH existing AS (
  SELECT session_token FROM sessions WHERE session_token = %(token)s
), new_student AS (
  INSERT INTO students (student_id, student_email, student_name)
  SELECT gen_random_uuid(), coalesce(%(email)s, 'anonymous+' || md5(random()::text)
                                     || '@anonymous.invalid'), %(name)s
  WHERE NOT EXISTS (SELECT 1 FROM existing)
  ON CONFLICT (student_email) DO UPDATE SET updated_at = students.updated_at
  RETURNING student_id, xmax = 0 AS created
), creator AS (
  INSERT INTO student_creators (student_id, session_token)
  SELECT student_id, %(token)s FROM new_student WHERE created
), session AS (
  INSERT INTO sessions (session_token, student_id, expires_at)
  SELECT %(token)s, coalesce((SELECT student_id FROM new_student),
                             (SELECT student_id FROM sessions WHERE session_token = %(token)s)),
         now() + interval '24 hours'
  ON CONFLICT (session_token) DO UPDATE SET last_activity = now()
  WHERE sessions.is_active AND sessions.expires_at > now()
  RETURNING session_token, student_id, xmax = 0 AS created
), step AS (
  INSERT INTO step_progress (session_token, student_id, step_number, step_name, attempts,
                             time_spent, validation_passed, completed_at)
  SELECT session_token, student_id, %(step)s, %(step_name)s, 1, %(time)s, %(completed)s,
         CASE WHEN %(completed)s THEN now() END
  FROM session
  ON CONFLICT (session_token, step_number) DO UPDATE SET
    attempts = coalesce(step_progress.attempts, 0) + 1,
    time_spent = least(coalesce(step_progress.time_spent, 0)::bigint + excluded.time_spent,
                       2147483647),
    validation_passed = step_progress.validation_passed OR excluded.validation_passed,
    completed_at = coalesce(step_progress.completed_at, excluded.completed_at),
    updated_at = now()
  RETURNING session_token, student_id, attempts, xmax = 0 AS created,
            %(completed)s AND completed_at = now() AS first_completion
), events AS (
  INSERT INTO events (student_id, session_token, event_type, event_data)
  SELECT e.student_id, e.session_token, e.event_type, e.event_data FROM (
    SELECT student_id, session_token, 'session_created' AS event_type, '{}'::jsonb AS event_data,
           created AS wanted FROM session
    UNION ALL
    SELECT student_id, session_token, 'step_started', jsonb_build_object('stepNumber', %(step)s),
           created FROM step
    UNION ALL
    SELECT student_id, session_token, 'step_progress', jsonb_build_object(
             'stepNumber', %(step)s, 'timeSpent', %(time)s, 'completed', %(completed)s,
             'attempts', attempts), true FROM step
    UNION ALL
    SELECT student_id, session_token, 'step_completed',
           jsonb_build_object('stepNumber', %(step)s), first_completion FROM step
  ) e WHERE e.wanted
)
SELECT count(*) FROM session
"""

# Statement 2: the totals from the steps as now written, and the reply.
TOTALS_AND_REPLY = f"""
WITH totals AS (
  SELECT count(*) FILTER (WHERE validation_passed) AS done,
         coalesce(sum(time_spent) FILTER (WHERE validation_passed), 0) AS seconds,
         coalesce(max(step_number), 0) AS highest
  FROM step_progress WHERE session_token = %(token)s
), s AS (
  UPDATE sessions SET completion_rate = (200 * done + 9) / 18,
    total_time_spent = least(seconds, 2147483647), current_step = highest,
    last_activity = now(), expires_at = now() + interval '24 hours'
  FROM totals WHERE session_token = %(token)s
  RETURNING sessions.*
)
SELECT json_build_object('success', true, 'message', 'Progress updated successfully',
                         'progress', {_SESSION_JSON})::text
FROM s JOIN students u ON u.student_id = s.student_id
"""

_connection: psycopg.Connection | None = None


def connection() -> psycopg.Connection:
    """The worker's own connection, opened on its first request (after gunicorn's fork)."""
    global _connection
    if _connection is None or _connection.closed:
        # Autocommit: a GET is one statement, no BEGIN/ROLLBACK around it; a POST opens its
        # own transaction.
        _connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return _connection


def reply(start_response, status: str, body: str | bytes):
    data = body.encode() if isinstance(body, str) else body
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def error(start_response, status: str, message: str):
    return reply(start_response, status, json.dumps({"success": False, "error": message}))


def post_params(body: object) -> dict | None:
    """The statement's parameters from a POST body, or None when it is not valid."""
    if not isinstance(body, dict):
        return None
    token, step = body.get("sessionToken"), body.get("stepNumber")
    time_spent, completed = body.get("timeSpent", 0), body.get("completed", False)
    email, name = body.get("studentEmail"), body.get("studentName")
    if not isinstance(token, str) or not TOKEN.match(token):
        return None
    if type(step) is not int or not 1 <= step <= 9:
        return None
    if type(time_spent) is not int or not 0 <= time_spent <= 86400:
        return None
    if not isinstance(completed, bool):
        return None
    if email is not None and (not isinstance(email, str) or "@" not in email):
        return None
    if name is not None and not isinstance(name, str):
        return None
    return {
        "token": token,
        "email": email.strip().lower() if email else None,
        "name": name,
        "step": step,
        "step_name": step_title(step),
        "time": time_spent,
        "completed": completed,
    }


def handle(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    if path == "/api/health":
        connection().execute("SELECT 1")
        return reply(start_response, "200 OK", '{"status":"ok"}')
    if path != "/api/student-progress":
        return error(start_response, "404 Not Found", "Not found.")
    if method == "GET":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "sessionToken" in query and TOKEN.match(query["sessionToken"][0]):
            sql, params = GET_BY_TOKEN, {"token": query["sessionToken"][0]}
        elif "studentId" in query and UUID.match(query["studentId"][0]):
            sql, params = GET_BY_STUDENT, {"student": query["studentId"][0]}
        else:
            return error(start_response, "400 Bad Request", "sessionToken: invalid.")
        row = connection().execute(sql, params).fetchone()
        if row is None or row[0] is None:
            return error(start_response, "404 Not Found", "Session not found.")
        if sql is GET_BY_TOKEN:
            return reply(start_response, "200 OK", '{"success":true,"progress":' + row[0] + "}")
        return reply(start_response, "200 OK", row[0])
    if method != "POST":
        return error(start_response, "405 Method Not Allowed", "Method not allowed.")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        params = post_params(json.loads(environ["wsgi.input"].read(length)))
    except ValueError:
        params = None
    if params is None:
        return error(start_response, "400 Bad Request", "Invalid progress update.")
    conn = connection()
    body = None
    with conn.transaction():
        # A closed session matches nothing in WRITE: nothing written, no reply to read.
        if conn.execute(WRITE, params).fetchone()[0]:
            body = conn.execute(TOTALS_AND_REPLY, params).fetchone()[0]
    if body is None:
        return error(start_response, "410 Gone", "This session is closed.")
    return reply(start_response, "200 OK", body)


def application(environ, start_response):
    try:
        return handle(environ, start_response)
    except psycopg.Error as exc:
        global _connection
        if _connection is not None and _connection.broken:
            _connection = None
        return error(start_response, "503 Service Unavailable", type(exc).__name__)
