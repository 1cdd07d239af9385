"""The legacy pipeline in set-based SQL (PostgreSQL only), and the table migration on it.

`manage.py migrate_legacy` stages the legacy tables; `manage.py import_legacy_backup`
(analytics.legacy.backup) stages a backup file's items; both then call run_pipeline(), so
every rule below applies to both the same way.

It lives in `analytics` because it writes all four tables (students, sessions, step_progress
and the `data_migrated` events), and analytics is the one app DESIGN.md lets depend on the
others; the rules it applies come from `analytics.legacy`.

How it runs, inside ONE transaction (any failure rolls everything back):
1. detect the legacy tables and their columns; lock them against writes (so no row can appear
   between reading and renaming);
2. stage every row as text in a temporary table (the same database: INSERT ... SELECT;
   `--source-url`: COPY streamed from the other database);
3. parse and merge in SQL: JSON (object or double-encoded string), timestamps, identity,
   deterministic tokens; exercise keys are mapped once per DISTINCT key by the Python
   catalogue and joined back; openai keys are converted once per distinct value;
4. INSERT ... SELECT students, sessions, steps, events; recalculate the totals with one UPDATE;
5. rename the migrated tables to `<name>_backup_<YYYYMMDDHHMMSS>`.
Sessions whose token already exists are left alone, so a second run adds nothing and a run
after new legacy rows appeared adds only those. Steps 3 and 4 are run_pipeline(); the
backup import does its own staging instead of 1 and 2, and has nothing to rename.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from analytics.legacy.columns import (
    CONFIG_TEXT_FIELDS,
    CONFIGS_TABLE,
    FIELDS,
    PRIORITY,
    SESSIONS_TABLE,
    STUDENTS_TABLE,
    LegacyTable,
    detect_tables,
)
from analytics.legacy.exercises import MAX_DECODE_DEPTH, MAX_INT, step_number_for_key
from analytics.legacy.identity import (
    ANONYMOUS_KEY_PREFIX,
    DERIVED_TOKEN_PREFIX,
    PLACEHOLDER_DOMAIN,
    PLACEHOLDER_LOCAL_PREFIX,
)
from analytics.legacy.secrets import convert_legacy_secret
from analytics.models import EventType
from progress.totals import completion_rate_sql
from workshop.models import SESSION_LIFETIME_HOURS, anonymous_email
from workshop.steps import TOTAL_STEPS, step_title

# How many bad rows / skipped keys the report lists by name (all are counted).
REPORT_LIST_LIMIT = 50

# The anonymous address as SQL: prefix || key || suffix, built from the one Python definition.
_MARK = "\x00"
ANON_PREFIX, ANON_SUFFIX = anonymous_email(_MARK).split(_MARK)


class LegacyMigrationError(Exception):
    """The migration failed; the message says whether anything was changed."""


@dataclass
class MigrationReport:
    dry_run: bool = False
    tables: dict[str, list[str]] = field(default_factory=dict)  # table -> detected columns
    rows_read: Counter = field(default_factory=Counter)  # table -> rows
    bad_rows: list[tuple[str, str, str]] = field(default_factory=list)  # (table, key, why)
    bad_row_count: int = 0
    skipped_keys: Counter = field(default_factory=Counter)  # legacy key -> occurrences
    sessions_found: int = 0
    sessions_existing: int = 0
    token_conflicts: int = 0  # tokens seen with several real emails (first source wins)
    students_created: int = 0
    sessions_created: int = 0
    steps_created: int = 0
    events_created: int = 0
    secrets: Counter = field(default_factory=Counter)
    renamed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def nothing_to_do(self) -> bool:
        return self.sessions_created == 0


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


# --- SQL ------------------------------------------------------------------------------------

# Parsers that never raise: a bad value in one row must be reported, not abort the run.
# legacy_json: NULL = not JSON; 'null' = missing/blank (use the default); unwraps strings
# holding JSON (double-encoding) up to MAX_DECODE_DEPTH times, as the Python parser does.
FUNCTIONS_SQL = f"""
CREATE OR REPLACE FUNCTION pg_temp.legacy_json(raw text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v jsonb; depth int := 0;
BEGIN
  IF raw IS NULL OR btrim(raw) = '' THEN RETURN 'null'::jsonb; END IF;
  BEGIN v := raw::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END;
  WHILE jsonb_typeof(v) = 'string' LOOP
    IF depth >= {MAX_DECODE_DEPTH} THEN RETURN NULL; END IF;
    IF btrim(v #>> '{{}}') = '' THEN RETURN 'null'::jsonb; END IF;
    BEGIN v := (v #>> '{{}}')::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END;
    depth := depth + 1;
  END LOOP;
  RETURN v;
END $$;

CREATE OR REPLACE FUNCTION pg_temp.legacy_ts(raw text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF raw IS NULL OR btrim(raw) = '' THEN RETURN NULL; END IF;
  RETURN raw::timestamptz;
EXCEPTION WHEN others THEN RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION pg_temp.legacy_int(v jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(v) = 'number'
      THEN least(greatest(round((v #>> '{{}}')::numeric), 0), {MAX_INT})::int
    WHEN jsonb_typeof(v) = 'string' AND (v #>> '{{}}') ~ '^\\s*\\d+(\\.\\d+)?\\s*$'
      THEN least(round(btrim(v #>> '{{}}')::numeric), {MAX_INT})::int
    ELSE 0 END
$$;

CREATE OR REPLACE FUNCTION pg_temp.legacy_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(v = 'true'::jsonb
    OR (jsonb_typeof(v) = 'string' AND lower(btrim(v #>> '{{}}')) = 'true'), false)
$$;
"""

# One row per legacy row or backup item. priority: which row of a session wins where they
# disagree (lower first): the table's rank (PRIORITY), or the item's rank in a backup file.
RAW_TABLE_SQL = (
    "DROP TABLE IF EXISTS pg_temp.legacy_raw;"
    "CREATE TEMP TABLE legacy_raw (priority int, src_table text, "
    + ", ".join(f"{name} text" for name in FIELDS)
    + ") ON COMMIT DROP;"
)

_WS = "E' \\t\\r\\n'"
_EMAIL = f"lower(btrim(r.email, {_WS}))"
_PLACEHOLDER = f"""(
    {_EMAIL} IS NULL OR position('@' in {_EMAIL}) = 0
    OR (substr({_EMAIL}, position('@' in {_EMAIL}) + 1) = '{PLACEHOLDER_DOMAIN}'
        AND (split_part({_EMAIL}, '@', 1) = '{PLACEHOLDER_LOCAL_PREFIX}'
             OR split_part({_EMAIL}, '@', 1) LIKE '{PLACEHOLDER_LOCAL_PREFIX}\\_%'))
)"""
# THE token of a row without one (table row or backup item): the one place it is derived.
_DERIVED = f"""'{DERIVED_TOKEN_PREFIX}' || left(md5(coalesce({_EMAIL}, '') || '|' || coalesce(
    floor(extract(epoch from coalesce(pg_temp.legacy_ts(r.started_at),
      pg_temp.legacy_ts(r.created_at))) * 1000)::bigint::text, '')), 24)"""

# One parsed row per staged row; bad_reason says why a row is skipped.
ROWS_SQL = f"""
DROP TABLE IF EXISTS pg_temp.legacy_rows;
CREATE TEMP TABLE legacy_rows ON COMMIT DROP AS
SELECT p.*,
  CASE
    WHEN p.exercises_j IS NULL THEN 'exercises is not valid JSON'
    WHEN jsonb_typeof(p.exercises_j) NOT IN ('object', 'null') THEN 'exercises is not an object'
    WHEN p.bug_reports_j IS NULL THEN 'bug_reports is not valid JSON'
    WHEN jsonb_typeof(p.bug_reports_j) NOT IN ('array', 'null') THEN 'bug_reports is not a list'
    WHEN p.tools_j IS NULL THEN 'tools is not valid JSON'
    WHEN jsonb_typeof(p.tools_j) NOT IN ('array', 'null') THEN 'tools is not a list'
    WHEN p.voice_settings_j IS NULL THEN 'voice_settings is not valid JSON'
    WHEN jsonb_typeof(p.voice_settings_j) NOT IN ('object', 'null')
      THEN 'voice_settings is not an object'
  END AS bad_reason
FROM (
  SELECT r.priority, r.src_table, r.src_key,
    CASE WHEN r.src_table = '{CONFIGS_TABLE}' THEN 0 ELSE r.priority END AS cfg_priority,
    coalesce(nullif(btrim(r.token), ''), {_DERIVED}) AS token,
    {_EMAIL} AS email, {_PLACEHOLDER} AS placeholder,
    nullif(btrim(r.name), '') AS name,
    pg_temp.legacy_json(r.exercises) AS exercises_j,
    pg_temp.legacy_json(r.bug_reports) AS bug_reports_j,
    pg_temp.legacy_json(r.tools) AS tools_j,
    pg_temp.legacy_json(r.voice_settings) AS voice_settings_j,
    pg_temp.legacy_ts(r.started_at) AS started_at,
    pg_temp.legacy_ts(r.last_activity) AS last_activity,
    pg_temp.legacy_ts(r.created_at) AS created_at,
    pg_temp.legacy_ts(r.expires_at) AS expires_at,
    lower(btrim(r.demo_mode)) IN ('t', 'true', '1', 'yes', 'on') AS demo_mode,
    nullif(btrim(r.openai_api_key), '') AS openai_api_key,
    CASE WHEN btrim(r.current_step) ~ '^-?\\d{{1,9}}$' THEN btrim(r.current_step)::int
    END AS current_step,
    {", ".join(f"nullif(r.{name}, '') AS {name}" for name in CONFIG_TEXT_FIELDS)}
  FROM legacy_raw r
) p;
"""


def _first(expr: str, order: str = "priority") -> str:
    return f"(array_agg({expr} ORDER BY {order}) FILTER (WHERE {expr} IS NOT NULL))[1]"


def _first_json(name: str, order: str) -> str:
    return (
        f"(array_agg({name}_j ORDER BY {order}) FILTER (WHERE jsonb_typeof({name}_j) <> 'null'))[1]"
    )


# One row per session to create (tokens already in `sessions` are counted, then dropped),
# with its final timestamps and the address of the student it belongs to.
SESSIONS_SQL = f"""
DROP TABLE IF EXISTS pg_temp.legacy_sessions;
CREATE TEMP TABLE legacy_sessions ON COMMIT DROP AS
SELECT m.*,
  CASE WHEN m.placeholder
    THEN '{ANON_PREFIX}' || '{ANONYMOUS_KEY_PREFIX}' || left(md5(m.token), 20) || '{ANON_SUFFIX}'
    ELSE m.email END AS student_email,
  coalesce(m.started, m.created, now()) AS started_at,
  coalesce(m.last_active, m.started, m.created, now()) AS last_activity,
  -- A legacy session expires a lifetime after its last activity unless it says otherwise,
  -- so years-old sessions do not come back as active.
  coalesce(m.expires, coalesce(m.last_active, m.started, m.created, now())
    + interval '{SESSION_LIFETIME_HOURS} hours') AS expires_at
FROM (
  SELECT token,
    (array_agg(email ORDER BY placeholder, priority))[1] AS email,
    bool_and(placeholder) AS placeholder,
    count(DISTINCT email) FILTER (WHERE NOT placeholder) > 1 AS conflict,
    {_first("name")} AS name,
    min(started_at) AS started, max(last_activity) AS last_active,
    min(created_at) AS created, max(expires_at) AS expires,
    coalesce(bool_or(demo_mode), false) AS demo_mode,
    {_first("openai_api_key", "cfg_priority")} AS openai_api_key,
    max(current_step) FILTER (WHERE src_table = '{CONFIGS_TABLE}') AS config_step,
    {", ".join(f"{_first(name, 'cfg_priority')} AS {name}" for name in CONFIG_TEXT_FIELDS)},
    coalesce({_first_json("tools", "cfg_priority")}, '[]') AS tools,
    coalesce({_first_json("voice_settings", "cfg_priority")}, '{{}}') AS voice_settings,
    coalesce({_first_json("bug_reports", "priority")}, '[]') AS bug_reports,
    (array_agg(src_table ORDER BY priority))[1] AS source,
    (array_agg(src_key ORDER BY priority))[1] AS legacy_key,
    array_agg(DISTINCT src_table) AS sources
  FROM legacy_rows WHERE bad_reason IS NULL
  GROUP BY token
) m;
"""

STUDENTS_SQL = """
INSERT INTO students (student_id, student_email, student_name, created_at)
SELECT gen_random_uuid(), student_email,
  (array_agg(name ORDER BY last_activity DESC) FILTER (WHERE name IS NOT NULL))[1],
  min(coalesce(created, started_at))
FROM legacy_sessions GROUP BY student_email
ON CONFLICT (student_email) DO NOTHING
"""

ENTRIES_SQL = """
DROP TABLE IF EXISTS pg_temp.legacy_entries;
CREATE TEMP TABLE legacy_entries ON COMMIT DROP AS
SELECT r.token, x.key, x.value
FROM legacy_rows r
JOIN legacy_sessions ls ON ls.token = r.token
CROSS JOIN LATERAL jsonb_each(r.exercises_j) x
WHERE r.bad_reason IS NULL AND jsonb_typeof(r.exercises_j) = 'object';
"""

STEP_KEYS_TABLE_SQL = """
DROP TABLE IF EXISTS pg_temp.legacy_step_keys;
CREATE TEMP TABLE legacy_step_keys (key text PRIMARY KEY, step_number int, step_name text)
ON COMMIT DROP;
"""

SKIPPED_KEYS_SQL = """
SELECT e.key, count(*) FROM legacy_entries e
LEFT JOIN legacy_step_keys k ON k.key = e.key
WHERE k.step_number IS NULL OR jsonb_typeof(e.value) <> 'object'
GROUP BY e.key ORDER BY count(*) DESC, e.key
"""

# One row per (session, step). Several keys mapping to one step are the same work seen by
# different clients: added up.
STEPS_SQL = f"""
DROP TABLE IF EXISTS pg_temp.legacy_steps;
CREATE TEMP TABLE legacy_steps ON COMMIT DROP AS
SELECT e.token, e.step_number, e.step_name,
  coalesce(min(least(e.done_at, e.last_at)), min(ls.started_at)) AS started_at,
  min(e.done_at) AS completed_at, least(sum(e.time_spent), {MAX_INT})::int AS time_spent,
  least(sum(e.attempts), {MAX_INT})::int AS attempts, bool_or(e.done) AS validation_passed
FROM (
  SELECT x.token, k.step_number, k.step_name, x.done,
    CASE WHEN x.done THEN coalesce(pg_temp.legacy_ts(x.value ->> 'timestamp'), x.last_at)
    END AS done_at,
    x.last_at, pg_temp.legacy_int(x.value -> 'timeSpent') AS time_spent,
    pg_temp.legacy_int(x.value -> 'attempts') AS attempts
  FROM (
    SELECT e.*, pg_temp.legacy_bool(e.value -> 'completed') AS done,
      pg_temp.legacy_ts(e.value ->> 'lastAttempt') AS last_at
    FROM legacy_entries e WHERE jsonb_typeof(e.value) = 'object'
  ) x
  JOIN legacy_step_keys k ON k.key = x.key AND k.step_number IS NOT NULL
) e
JOIN legacy_sessions ls ON ls.token = e.token
GROUP BY e.token, e.step_number, e.step_name;
"""

# Totals by the session-totals rule (progress.totals), before the sessions are written (no
# second pass over them). Two legacy additions: time is capped to the column's range, and
# current_step is student_configs' 0-based current_step + 1 when that is higher.
TOTALS_SQL = f"""
DROP TABLE IF EXISTS pg_temp.legacy_totals;
CREATE TEMP TABLE legacy_totals ON COMMIT DROP AS
SELECT ls.token, count(st.step_number) AS steps,
  ({completion_rate_sql("count(*) FILTER (WHERE st.validation_passed)")})::int
    AS completion_rate,
  least(coalesce(sum(st.time_spent) FILTER (WHERE st.validation_passed), 0), {MAX_INT})::int
    AS total_time_spent,
  greatest(coalesce(max(st.step_number), 0),
    CASE WHEN ls.config_step BETWEEN 0 AND {TOTAL_STEPS - 1} THEN ls.config_step + 1 ELSE 0 END)
    AS current_step
FROM legacy_sessions ls LEFT JOIN legacy_steps st ON st.token = ls.token
GROUP BY ls.token, ls.config_step;
"""

SESSION_INSERT_SQL = f"""
INSERT INTO sessions (
  session_token, student_id, started_at, last_activity, expires_at, is_active, demo_mode,
  current_step, total_time_spent, completion_rate, openai_api_key, tools, voice_settings,
  bug_reports, created_at, {", ".join(CONFIG_TEXT_FIELDS)})
SELECT ls.token, st.student_id, ls.started_at, ls.last_activity, ls.expires_at,
  ls.expires_at > now(), ls.demo_mode, t.current_step, t.total_time_spent, t.completion_rate,
  sec.ciphertext, ls.tools, ls.voice_settings, ls.bug_reports,
  coalesce(ls.created, ls.started_at), {", ".join(f"ls.{n}" for n in CONFIG_TEXT_FIELDS)}
FROM legacy_sessions ls
JOIN legacy_totals t ON t.token = ls.token
JOIN students st ON st.student_email = ls.student_email
LEFT JOIN legacy_secrets sec ON sec.raw = ls.openai_api_key
"""

STEP_INSERT_SQL = """
INSERT INTO step_progress (session_token, student_id, step_number, step_name, started_at,
  completed_at, time_spent, attempts, validation_passed)
SELECT st.token, s.student_id, st.step_number, st.step_name, st.started_at, st.completed_at,
  st.time_spent, st.attempts, st.validation_passed
FROM legacy_steps st JOIN sessions s ON s.session_token = st.token
ORDER BY st.token, st.step_number
"""

EVENTS_SQL = f"""
INSERT INTO events (student_id, session_token, event_type, event_data)
SELECT s.student_id, ls.token, '{EventType.DATA_MIGRATED.value}',
  jsonb_build_object('source', ls.source, 'legacy_key', ls.legacy_key,
    'sources', to_jsonb(ls.sources), 'steps', t.steps)
FROM legacy_sessions ls
JOIN legacy_totals t ON t.token = ls.token
JOIN sessions s ON s.session_token = ls.token
"""


# --- staging --------------------------------------------------------------------------------


def _select_sql(table: LegacyTable) -> sql.Composed:
    """SELECT of every field of one legacy table as text (NULL where it has no column)."""
    parts = [sql.Literal(PRIORITY[table.name]), sql.Literal(table.name)]
    for cols in table.source_columns().values():
        texts = [sql.SQL("nullif(btrim({}::text), '')").format(sql.Identifier(c)) for c in cols]
        if not texts:
            parts.append(sql.SQL("NULL::text"))
        elif len(texts) == 1:
            parts.append(texts[0])
        else:
            parts.append(sql.SQL("coalesce({})").format(sql.SQL(", ").join(texts)))
    return sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(parts), sql.Identifier(table.name)
    )


def _lock_sql(tables: list[LegacyTable]) -> sql.Composed:
    # EXCLUSIVE: readers go on, writers wait until the tables are renamed and committed.
    return sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
        sql.SQL(", ").join(sql.Identifier(t.name) for t in tables)
    )


def _rename_sql(name: str, new_name: str) -> sql.Composed:
    # Identifiers cannot be bind parameters (the old service's bug): quote them properly.
    return sql.SQL("ALTER TABLE {} RENAME TO {}").format(
        sql.Identifier(name), sql.Identifier(new_name)
    )


def _rename_tables(cursor, tables: list[LegacyTable], stamp: str) -> dict[str, str]:
    renamed = {}
    for table in tables:
        new_name = f"{table.name}_backup_{stamp}"
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [new_name])
        if cursor.fetchone()[0]:
            raise LegacyMigrationError(f"cannot rename {table.name}: {new_name} already exists")
        cursor.execute(_rename_sql(table.name, new_name).as_string(cursor.connection))
        renamed[table.name] = new_name
    return renamed


def _stage_local(cursor, tables: list[LegacyTable]) -> None:
    for table in tables:
        cursor.execute(
            sql.SQL("INSERT INTO legacy_raw {}")
            .format(_select_sql(table))
            .as_string(cursor.connection)
        )


def _stage_remote(cursor, source, tables: list[LegacyTable]) -> None:
    columns = sql.SQL(", ").join(map(sql.Identifier, ("priority", "src_table", *FIELDS)))
    copy_in = sql.SQL("COPY legacy_raw ({}) FROM STDIN").format(columns)
    for table in tables:
        copy_out = sql.SQL("COPY ({}) TO STDOUT").format(_select_sql(table))
        with (
            source.cursor().copy(copy_out) as out,
            cursor.cursor.copy(copy_in.as_string(cursor.connection)) as inp,
        ):
            for block in out:
                inp.write(block)


# --- the run --------------------------------------------------------------------------------


def migrate_legacy(
    *,
    source_url: str | None = None,
    include_configs: bool = False,
    legacy_key: bytes | None = None,
    keep_tables: bool = False,
    dry_run: bool = False,
    progress: Progress = _quiet,
) -> MigrationReport:
    """Migrate the legacy tables; all or nothing. See the module docstring."""
    if connection.vendor != "postgresql":
        raise LegacyMigrationError("the legacy migration needs PostgreSQL (set DATABASE_URL)")
    report = MigrationReport(dry_run=dry_run)
    started = time.monotonic()
    names = [STUDENTS_TABLE, SESSIONS_TABLE] + ([CONFIGS_TABLE] if include_configs else [])
    try:
        source = psycopg.connect(source_url) if source_url else None
    except psycopg.Error as exc:
        raise LegacyMigrationError(
            f"nothing was changed: cannot connect to the source: {exc}"
        ) from exc
    try:
        try:
            with transaction.atomic():
                timed = lambda message: progress(f"[{time.monotonic() - started:5.1f}s] {message}")  # noqa: E731
                tables = _run(report, source, names, legacy_key, keep_tables or dry_run, timed)
                if dry_run:
                    transaction.set_rollback(True)
        except (psycopg.Error, DatabaseError, LegacyMigrationError) as exc:
            raise LegacyMigrationError(f"nothing was changed: {exc}") from exc
        if source is not None:
            _finish_source(report, source, tables, rename=not (keep_tables or dry_run))
    finally:
        if source is not None:
            source.close()
    report.seconds = time.monotonic() - started
    return report


def _finish_source(report, source, tables: list[LegacyTable], *, rename: bool) -> None:
    """Our database is committed; renaming the source's tables is a second, separate step."""
    try:
        if tables and rename:
            report.renamed = _rename_tables(source.cursor(), tables, _stamp())
        source.commit()
    except (psycopg.Error, LegacyMigrationError) as exc:
        raise LegacyMigrationError(
            f"the data was migrated and committed, but renaming the source tables failed "
            f"(a re-run adds nothing and retries the rename): {exc}"
        ) from exc


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def _run(report, source, names, legacy_key, keep_tables, progress) -> list[LegacyTable]:
    with connection.cursor() as cursor:
        reader = source.cursor() if source is not None else cursor
        tables = detect_tables(reader, names)
        report.tables = {t.name: sorted(t.columns) for t in tables}
        if not tables:
            progress("no legacy tables found")
            return []
        reader.execute(_lock_sql(tables).as_string(reader.connection))
        create_staging(cursor)
        if source is None:
            _stage_local(cursor, tables)
        else:
            _stage_remote(cursor, source, tables)
        run_pipeline(cursor, report, legacy_key, progress)

        if not keep_tables and source is None:
            report.renamed = _rename_tables(cursor, tables, _stamp())
    return tables


def create_staging(cursor) -> None:
    """The parsing functions and the empty `legacy_raw` table the rows are staged into."""
    cursor.execute(FUNCTIONS_SQL)
    cursor.execute(RAW_TABLE_SQL)


def run_pipeline(cursor, report: MigrationReport, legacy_key: bytes | None, progress) -> None:
    """Everything after staging, for the table migration and the backup import alike: parse
    and merge the rows of `legacy_raw`, then write students, sessions, steps and events."""
    cursor.execute("SELECT src_table, count(*) FROM legacy_raw GROUP BY src_table")
    report.rows_read.update(dict(cursor.fetchall()))
    progress(f"staged {sum(report.rows_read.values())} legacy rows")

    cursor.execute(ROWS_SQL)
    # Autovacuum never analyzes temporary tables; without row counts the planner guesses.
    cursor.execute("ANALYZE legacy_rows")
    _report_bad_rows(cursor, report)
    cursor.execute(SESSIONS_SQL)
    cursor.execute("ANALYZE legacy_sessions")
    cursor.execute("SELECT count(*), count(*) FILTER (WHERE conflict) FROM legacy_sessions")
    report.sessions_found, report.token_conflicts = cursor.fetchone()
    cursor.execute(
        "DELETE FROM legacy_sessions ls USING sessions s WHERE s.session_token = ls.token"
    )
    report.sessions_existing = cursor.rowcount
    progress(
        f"parsed: {report.sessions_found} sessions, {report.sessions_existing} already "
        f"migrated, {report.bad_row_count} bad rows"
    )

    cursor.execute(STUDENTS_SQL)
    report.students_created = cursor.rowcount
    cursor.execute(ENTRIES_SQL)
    cursor.execute("ANALYZE legacy_entries")
    _map_step_keys(cursor, report)
    cursor.execute(STEPS_SQL)
    cursor.execute("ANALYZE legacy_steps")
    cursor.execute(TOTALS_SQL)
    cursor.execute("ANALYZE legacy_totals")
    progress(f"parsed steps; {sum(report.skipped_keys.values())} exercise entries skipped")
    _convert_secrets(cursor, report, legacy_key)
    cursor.execute(SESSION_INSERT_SQL)
    report.sessions_created = cursor.rowcount
    progress(f"created {report.students_created} students, {report.sessions_created} sessions")
    cursor.execute(STEP_INSERT_SQL)
    report.steps_created = cursor.rowcount
    progress(f"created {report.steps_created} steps")
    cursor.execute(EVENTS_SQL)
    report.events_created = cursor.rowcount
    progress(f"created {report.events_created} events")


def _report_bad_rows(cursor, report: MigrationReport) -> None:
    # Added to what the caller may have found before staging (the backup's non-objects).
    cursor.execute("SELECT count(*) FROM legacy_rows WHERE bad_reason IS NOT NULL")
    report.bad_row_count += cursor.fetchone()[0]
    cursor.execute(
        "SELECT src_table, src_key, bad_reason FROM legacy_rows WHERE bad_reason IS NOT NULL "
        "ORDER BY priority, src_key LIMIT %s",
        [max(REPORT_LIST_LIMIT - len(report.bad_rows), 0)],
    )
    report.bad_rows.extend(tuple(row) for row in cursor.fetchall())


def _map_step_keys(cursor, report: MigrationReport) -> None:
    """The catalogue maps each DISTINCT key once; the steps are then joined in SQL."""
    cursor.execute(STEP_KEYS_TABLE_SQL)
    cursor.execute("SELECT DISTINCT key FROM legacy_entries")
    rows = []
    for (key,) in cursor.fetchall():
        number = step_number_for_key(key)
        rows.append((key, number, step_title(number) if number else None))
    with cursor.cursor.copy("COPY legacy_step_keys (key, step_number, step_name) FROM STDIN") as c:
        for row in rows:
            c.write_row(row)
    cursor.execute(SKIPPED_KEYS_SQL)
    report.skipped_keys.update(dict(cursor.fetchall()))


def _convert_secrets(cursor, report: MigrationReport, legacy_key: bytes | None) -> None:
    """Each distinct legacy key value is converted once; counts are per session."""
    cursor.execute(
        "DROP TABLE IF EXISTS pg_temp.legacy_secrets;"
        "CREATE TEMP TABLE legacy_secrets (raw text PRIMARY KEY, ciphertext text) ON COMMIT DROP"
    )
    cursor.execute(
        "SELECT openai_api_key, count(*) FROM legacy_sessions "
        "WHERE openai_api_key IS NOT NULL GROUP BY openai_api_key"
    )
    values = cursor.fetchall()
    with cursor.cursor.copy("COPY legacy_secrets (raw, ciphertext) FROM STDIN") as copy:
        for raw, sessions in values:
            converted = convert_legacy_secret(raw, legacy_key=legacy_key)
            report.secrets[converted.outcome] += sessions
            copy.write_row((raw, converted.ciphertext))
