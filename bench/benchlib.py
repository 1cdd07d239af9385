"""Shared plumbing of the bench/ scripts (not a test): scratch databases, Django set-up with
production-like settings, timing, the machine's load and writing a section of
docs/benchmarks.md.

Scratch databases are always named wp_bench_*: the scripts create and drop only those.
"""

import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import request

ROOT = Path(__file__).resolve().parent.parent
SERVER_URL = "postgres://postgres@127.0.0.1:5432"

# Production settings (DEBUG off, manifest-less static files as in the tests), so templates
# and middleware cost what they cost in production. Values the environment sets win.
BENCH_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
    "FIELD_ENCRYPTION_KEYS": "bKjlPGK3nV2E0O1mRc0HoQbTR1K3Hr0S0xQvS8n8m8s=",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "WHITENOISE_USE_FINDERS": "true",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost",
    "DJANGO_LOG_LEVEL": "WARNING",
}


def database_url(name: str) -> str:
    if not name.startswith("wp_bench_"):
        raise SystemExit(f"scratch databases must be named wp_bench_*, not {name!r}")
    return f"{SERVER_URL}/{name}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True)


def database_exists(name: str) -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def recreate_database(name: str) -> str:
    database_url(name)
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def drop_database(name: str) -> None:
    database_url(name)
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Older sessions for cost-growth runs: one student each, closed and expired a week ago, with
# EXISTING_STEPS steps and one step_progress event per step. Made in SQL (generate_series) in
# batches, far faster than seed_demo; the load's own pool of sessions is not among them.
EXISTING_STEPS = 4
_EXISTING_SQL = """
WITH made AS (
  INSERT INTO students (student_id, student_email, student_name)
  SELECT gen_random_uuid(), 'existing-' || n || '@bench.example', 'Existing ' || n
  FROM generate_series(%(first)s::int, %(last)s::int) AS n
  RETURNING student_id, student_email
), sessions_made AS (
  INSERT INTO sessions (session_token, student_id, started_at, last_activity, expires_at,
                        is_active, current_step, total_time_spent, completion_rate)
  SELECT 'existing_' || split_part(split_part(student_email, '@', 1), '-', 2), student_id,
         now() - interval '8 days', now() - interval '8 days', now() - interval '7 days',
         false, %(steps)s::int, %(steps)s::int * 60, (200 * %(steps)s::int + 9) / 18
  FROM made
  RETURNING session_token, student_id
), steps_made AS (
  INSERT INTO step_progress (session_token, student_id, step_number, step_name, started_at,
                             completed_at, time_spent, attempts, validation_passed)
  SELECT session_token, student_id, step, 'Step ' || step, now() - interval '8 days',
         now() - interval '8 days', 60, 1, true
  FROM sessions_made CROSS JOIN generate_series(1, %(steps)s::int) AS step
  RETURNING session_token, student_id, step_number
)
INSERT INTO events (student_id, session_token, event_type, event_data, created_at)
SELECT student_id, session_token, 'step_progress',
       jsonb_build_object('stepNumber', step_number, 'timeSpent', 60, 'completed', true,
                          'attempts', 1), now() - interval '8 days'
FROM steps_made
"""


def add_existing_sessions(url: str, count: int, *, start: int = 1, batch: int = 100_000) -> None:
    """Add `count` older sessions (with their students, steps and events) to the database,
    numbered from `start` (to grow the same database in steps)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(start, start + count, batch):
            last = min(first + batch - 1, start + count - 1)
            conn.execute(_EXISTING_SQL, {"first": first, "last": last, "steps": EXISTING_STEPS})
        conn.execute("VACUUM ANALYZE")


def setup_django(url: str) -> None:
    """Point Django at `url` and set it up; call once, before importing models."""
    os.environ["DATABASE_URL"] = url
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workshop.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out + ("+changes" if dirty else "")


def load() -> str:
    """The 1, 5 and 15 minute load averages: the machine is shared with other work."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True)
class Timing:
    best: float
    median: float

    def ms(self) -> tuple[str, str]:
        return f"{self.best * 1000:.0f}", f"{self.median * 1000:.0f}"


def timed(action: Callable[[], object], *, runs: int) -> Timing:
    """Best and median wall time of `runs` calls (after one untimed warm-up call)."""
    action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return Timing(best=min(samples), median=statistics.median(samples))


def write_doc_section(heading: str, section: str) -> Path:
    """Replace the section under `heading` (up to the next "## ") in docs/benchmarks.md, or
    append it."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"{re.escape(heading)}\n.*?(?=\n## |\Z)", re.DOTALL)
    body = section.rstrip("\n")
    text = (
        # The match ends before the newline of the next heading: keep a blank line there.
        pattern.sub(lambda _: body + "\n", text)
        if pattern.search(text)
        else text.rstrip("\n") + "\n\n" + body
    )
    path.write_text(text.rstrip("\n") + "\n")
    return path


# --------------------------------------------------------------------------------------------
# A deterministic progress workload, and the rows it leaves: two servers given the same plan
# must leave the same rows (two app nodes against one; the limit app against the app).
# --------------------------------------------------------------------------------------------
PROGRESS = "/api/student-progress"


def workload(sessions: int, steps_each: int, seed_value: int = 14) -> list[list[dict]]:
    """Per session, its POST bodies in order; the same every time (tokens without prefix).
    Time is always sent, so no POST is a heartbeat measured by the clock."""
    rng = random.Random(seed_value)
    plan = []
    for n in range(sessions):
        bodies = [{"studentEmail": f"node{n}@bench.example", "studentName": f"Node {n}"}]
        bodies += [{} for _ in range(steps_each - 1)]
        for body in bodies:
            body.update(
                stepNumber=rng.randint(1, 9),
                timeSpent=rng.randint(1, 300),
                completed=rng.random() < 0.3,
            )
        plan.append(bodies)
    return plan


def drive(plan: list[list[dict]], urls: list[str], prefix: str, *, clients: int = 4) -> Counter:
    """Send the plan: each session's POSTs in order, the sessions spread over `clients`
    threads, each POST to the next node in turn. Returns the statuses."""
    statuses: Counter = Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        mine = [(n, bodies) for n, bodies in enumerate(plan) if n % clients == index]
        sent = index
        for step in range(max(len(bodies) for _, bodies in mine)):
            for n, bodies in mine:
                body = dict(bodies[step], sessionToken=f"{prefix}{n:05d}")
                if "studentEmail" in body:
                    body["studentEmail"] = prefix + body["studentEmail"]
                status, _ = request(urls[sent % len(urls)] + PROGRESS, method="POST", body=body)
                sent += 1
                with lock:
                    statuses[status] += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return statuses


def aggregates(database_url: str, prefix: str) -> dict[str, list]:
    """Rows of the prefix's sessions, with the prefix cut off, in a stable order."""
    cut = len(prefix) + 1
    queries = {
        "sessions": """
            SELECT substr(s.session_token, %(cut)s), substr(u.student_email, %(cut)s),
                   s.current_step, s.total_time_spent, s.completion_rate, s.is_active
            FROM sessions s JOIN students u USING (student_id)
            WHERE s.session_token LIKE %(like)s ORDER BY 1""",
        "step_progress": """
            SELECT substr(session_token, %(cut)s), step_number, step_name, attempts, time_spent,
                   validation_passed, completed_at IS NOT NULL
            FROM step_progress WHERE session_token LIKE %(like)s ORDER BY 1, 2""",
        "events": """
            SELECT substr(session_token, %(cut)s), event_type, event_data, count(*)
            FROM events WHERE session_token LIKE %(like)s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
    }
    with psycopg.connect(database_url) as conn:
        params = {"cut": cut, "like": prefix + "%"}
        return {name: conn.execute(sql, params).fetchall() for name, sql in queries.items()}
