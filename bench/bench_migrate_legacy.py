"""Benchmark of `manage.py migrate_legacy` on 100,000 legacy rows (not a test).

Builds a scratch PostgreSQL database, migrates our schema into it, fills a shape-D
`workshop_students` table with ROWS rows (exercises of one to three keys, a third of them
double-encoded, 1% bad JSON, 5% placeholder emails, duplicate emails differing by case, 10%
with a plaintext openai_api_key), then times:
  1. migrate_legacy (the real command, in its one transaction);
  2. a plain INSERT ... SELECT of the same data (students, sessions, steps; no parsing,
     no secrets, no events), the floor any migration of this data pays.
Writes the figures and the command under "Legacy migration" in docs/benchmarks.md.

--backup: instead, writes the same rows as the old service's backup file (its
`getAllStudents` reply) and times `manage.py import_legacy_backup` on it, then a second run
(adds nothing); figures under "Legacy backup import". --before COMMIT:SECONDS adds the figure
measured on an earlier commit to that table, for comparison.

    .venv/bin/python bench/bench_migrate_legacy.py [--rows 100000] [--database-url URL]
        [--keep] [--smoke] [--backup [--before COMMIT:SECONDS]]

The scratch database is dropped at the end unless --keep. --smoke: 500 rows in a throw-away
database, nothing written to the docs; exits non-zero on failure (for CI).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

import benchlib
import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wp_bench_legacy"
HEADING = "## Legacy migration"
BACKUP_HEADING = "## Legacy backup import"

BUILD_SQL = """
CREATE TABLE workshop_students (
  session_token TEXT PRIMARY KEY, student_email TEXT NOT NULL, student_name TEXT,
  exercises JSONB DEFAULT '{}', bug_reports JSONB DEFAULT '[]', started_at TIMESTAMPTZ,
  last_activity TIMESTAMPTZ, total_time_spent INT, completion_rate INT, repo_created BOOL,
  demo_mode BOOL, created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(),
  openai_api_key TEXT, system_prompt TEXT, tools JSONB, voice_settings JSONB);
INSERT INTO workshop_students (session_token, student_email, student_name, exercises,
  started_at, last_activity, demo_mode, openai_api_key, system_prompt)
SELECT 'ws_' || i,
  CASE WHEN i % 20 = 0 THEN 'unknown@example.com'
       WHEN i % 20 = 1 THEN 'anonymous_ws_' || (1700000000000 + i)
       WHEN i % 3 = 0 THEN ' Student' || (i % 60000) || '@Example.org '
       ELSE 'student' || (i % 60000) || '@example.org' END,
  'Student ' || i,
  CASE WHEN i % 100 = 7 THEN to_jsonb('{broken'::text)
       WHEN i % 3 = 0 THEN to_jsonb(ex::text)
       ELSE ex END,
  timestamptz '2024-01-01' + i * interval '1 minute',
  timestamptz '2024-01-01' + i * interval '1 minute' + interval '30 minutes',
  i % 10 = 0,
  CASE WHEN i % 10 = 3 THEN 'sk-bench-' || i END,
  'prompt ' || i
FROM generate_series(1, %(rows)s) AS i
CROSS JOIN LATERAL (
  SELECT jsonb_object_agg(
    CASE WHEN (i + k) % 4 = 0 THEN 'step-' || k ELSE 'step-' || k || '-x' END,
    jsonb_build_object('completed', (i + k) % 3 <> 0, 'timeSpent', 30 * k + i % 50,
      'attempts', 1 + i % 3, 'timestamp', '2024-02-01T10:00:00Z',
      'lastAttempt', '2024-02-01T10:00:00Z')) AS ex
  FROM generate_series(1 + i % 7, 1 + i % 7 + i % 3) AS k
) e;
ANALYZE workshop_students;
"""

# The backup file the old service's `getAllStudents` reply would have given for those rows.
BACKUP_SQL = """
SELECT json_build_object('success', true, 'count', count(*), 'students', json_agg(
  json_build_object('studentId', student_email, 'studentName', student_name,
    'exercises', exercises, 'startedAt', started_at, 'lastActivity', last_activity,
    'totalTimeSpent', 0, 'completionRate', 0, 'repoCreated', false, 'demoMode', demo_mode)
  ORDER BY session_token))::text
FROM workshop_students
"""

PLAIN_SQL = """
INSERT INTO students (student_id, student_email, student_name)
SELECT gen_random_uuid(), e, min(student_name) FROM (
  SELECT lower(btrim(student_email)) AS e, student_name FROM workshop_students) s
GROUP BY e ON CONFLICT DO NOTHING;
INSERT INTO sessions (session_token, student_id, started_at, last_activity, demo_mode,
  system_prompt)
SELECT w.session_token, st.student_id, w.started_at, w.last_activity, w.demo_mode,
  w.system_prompt
FROM workshop_students w JOIN students st ON st.student_email = lower(btrim(w.student_email));
INSERT INTO step_progress (session_token, student_id, step_number, step_name, time_spent,
  attempts, validation_passed)
SELECT w.session_token, s.student_id, substring(x.key from 'step-(\\d)')::int, 'step',
  (x.value ->> 'timeSpent')::int, (x.value ->> 'attempts')::int,
  (x.value ->> 'completed')::boolean
FROM workshop_students w JOIN sessions s ON s.session_token = w.session_token
CROSS JOIN LATERAL jsonb_each(w.exercises) x
WHERE jsonb_typeof(w.exercises) = 'object';
"""


def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def write_doc(section: str) -> Path:
    return benchlib.write_doc_section(HEADING, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--smoke", action="store_true", help="500 rows, no docs, for CI")
    parser.add_argument("--backup", action="store_true", help="time import_legacy_backup")
    parser.add_argument("--before", help="COMMIT:SECONDS of an earlier --backup run")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.keep = 500, False
        args.database_url = DEFAULT_URL.replace("wp_bench_legacy", "wp_bench_smoke_legacy")
    try:
        run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(args.database_url)


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args) -> None:

    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workshop.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(BUILD_SQL.replace("%(rows)s", str(int(args.rows))))
        cursor.execute("SELECT count(*) FROM workshop_students")
        (rows,) = cursor.fetchone()
    build = time.monotonic() - started
    print(f"built {rows} legacy rows in {build:.1f}s")
    if args.backup:
        run_backup(args, rows, load_before)
        return

    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(PLAIN_SQL)
        transaction.set_rollback(True)  # only the timing matters; the real run follows
    plain = time.monotonic() - started
    print(f"plain INSERT ... SELECT: {plain:.1f}s")

    out = StringIO()
    started = time.monotonic()
    call_command("migrate_legacy", "--keep-tables", stdout=out)
    migrate = time.monotonic() - started
    lines = [line for line in out.getvalue().splitlines() if not line.startswith("Found ")]
    # The 1,000 bad rows are listed by name: three are enough to show here.
    listed = [i for i, line in enumerate(lines) if line.startswith("  workshop_students ")]
    summary = [line for i, line in enumerate(lines) if i not in listed[3:]]
    print("\n".join(summary))
    print(f"migrate_legacy: {migrate:.1f}s")

    started = time.monotonic()
    again = StringIO()
    call_command("migrate_legacy", "--keep-tables", stdout=again)
    rerun = time.monotonic() - started
    if "0 created" not in again.getvalue():
        raise SystemExit(f"the second run created rows: {again.getvalue()}")
    print(f"second run (adds nothing): {rerun:.1f}s")
    if args.smoke:
        return

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    rate_rows = "\n".join(
        f"| {label} | {seconds:.1f} | {rows / seconds:,.0f} |"
        for label, seconds in (
            ("`migrate_legacy` (parse, merge, write all four tables, secrets)", migrate),
            ("plain `INSERT ... SELECT` of the same rows (no parsing, secrets, events)", plain),
            ("`migrate_legacy` again on the same tables (all found migrated, adds nothing)", rerun),
        )
    )
    section = f"""{HEADING}

`migrate_legacy` on {rows:,} shape-D `workshop_students` rows (exercises of 1 to 3 keys, a
third double-encoded, 1% bad JSON, 10% placeholders, emails differing by case, 10% plaintext
OpenAI keys), PostgreSQL 15 on this 2-core, 24 GiB machine, shared with other work (load
averages {load_before} before the run), commit {commit}:

| what | seconds | legacy rows/s |
| --- | ---: | ---: |
{rate_rows}

Target: under 60 s for 100,000 rows. The machine is shared: timings move by a few seconds
with its load (quiet runs of the first line measured 17 to 19 s). The command's own summary:

```
{chr(10).join(summary)}
```

Reproduce: `.venv/bin/python bench/bench_migrate_legacy.py --rows {args.rows}` (it drops and
recreates the scratch database `{args.database_url.rsplit("/", 1)[1]}`, and drops it at the end
unless `--keep`).
"""
    print(f"wrote {write_doc(section)}")


def run_backup(args, rows: int, load_before: str) -> None:
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BACKUP_SQL)
        (content,) = cursor.fetchone()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backup.json"
        path.write_text(content)
        size = path.stat().st_size
        print(f"wrote a backup file of {rows} items, {size / 2**20:.1f} MiB")

        out = StringIO()
        started = time.monotonic()
        call_command("import_legacy_backup", str(path), stdout=out)
        seconds = time.monotonic() - started
        lines = out.getvalue().splitlines()
        listed = [i for i, line in enumerate(lines) if line.startswith("  backup")]
        summary = [line for i, line in enumerate(lines) if i not in listed[3:]]
        print("\n".join(summary))
        print(f"import_legacy_backup: {seconds:.1f}s")

        again = StringIO()
        started = time.monotonic()
        call_command("import_legacy_backup", str(path), stdout=again)
        rerun = time.monotonic() - started
    if "0 created" not in again.getvalue():
        raise SystemExit(f"the second run created rows: {again.getvalue()}")
    print(f"second run (adds nothing): {rerun:.1f}s")
    if args.smoke:
        return

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    measured = [(f"`import_legacy_backup`, commit {commit}", seconds)]
    if args.before:
        before_commit, before_seconds = args.before.split(":")
        measured.insert(
            0, (f"`import_legacy_backup`, commit {before_commit}", float(before_seconds))
        )
    measured.append((f"the same again, commit {commit} (all found imported, adds nothing)", rerun))
    table = "\n".join(f"| {label} | {s:.1f} | {rows / s:,.0f} |" for label, s in measured)
    section = f"""{BACKUP_HEADING}

`import_legacy_backup` on a backup file of {rows:,} items ({size / 2**20:.0f} MiB: the rows of
"Legacy migration" above as the old service's `getAllStudents` reply), PostgreSQL 15 on this
2-core machine, shared with other work (load averages {load_before} before the run):

| what | seconds | items/s |
| --- | ---: | ---: |
{table}

The command's own summary:

```
{chr(10).join(summary)}
```

Reproduce: `.venv/bin/python bench/bench_migrate_legacy.py --backup --rows {args.rows}` (same
scratch database as above).
"""
    print(f"wrote {benchlib.write_doc_section(BACKUP_HEADING, section)}")


if __name__ == "__main__":
    main()
