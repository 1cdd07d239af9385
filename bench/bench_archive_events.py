"""Benchmark of `manage.py archive_events` at 1,000,000 old events (not a test).

Builds a scratch PostgreSQL database with generate_series: 10,000 students, 20,000 sessions,
OLD events 40 to 41 days old and a fifth as many from the last day; one workshop run that has
not ended holds 5% of the sessions, whose old events must stay. Then, once per run below
(the old events are rebuilt between runs), the real command moves the events older than 30
days out. During every run a probe thread INSERTs an event every 5 ms on its own connection,
as the progress API does, and records how long each INSERT took; the command reports the
longest batch (its transaction: SELECT ... FOR UPDATE SKIP LOCKED, archive write, DELETE,
COMMIT), which is the longest any row lock was held.

    .venv/bin/python bench/bench_archive_events.py [--events 1000000] [--keep] [--write-doc]
        [--smoke]

Run it under `flock /tmp/bench.lock`. --smoke: 5,000 events, one run; exits non-zero on
failure. Timings are not asserted.
"""

import argparse
import gzip
import re
import sys
import tempfile
import textwrap
import threading
import time
from io import StringIO
from pathlib import Path

import benchlib
import psycopg

HEADING = "## Events retention (issue 14)"
DATABASE = "wp_bench_archive_events"
SMOKE_DATABASE = "wp_bench_smoke_archive_events"
STUDENTS, SESSIONS = 10_000, 20_000
# The default batch size first and last (the first run on a fresh table pays more), the
# others between.
RUNS = [("1000", "file"), ("5000", "file"), ("20000", "file"), ("1000", "none"), ("1000", "file")]

BUILD_SQL = """
INSERT INTO students (student_id, student_email, student_name)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       'archive' || i || '@example.org', 'Student ' || i
FROM generate_series(1, {students}) AS i;
INSERT INTO sessions (session_token, student_id, started_at, last_activity, expires_at)
SELECT 'ws_bench_' || i,
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + i % {students}), 12, '0'))::uuid,
       NOW() - interval '42 days' + (i % 1000) * interval '1 minute',
       NOW() - interval '1 day', NOW() + interval '1 day'
FROM generate_series(1, {sessions}) AS i;
-- A run not ended yet, which instructors moved one session in 20 to (its own window holds none).
INSERT INTO workshop_runs (name, starts_at, ends_at, location, created_at)
VALUES ('long course', NOW() - interval '2 days', NOW() + interval '1 day', '', NOW());
INSERT INTO workshop_run_sessions (session_token, run_id, moved_at)
SELECT session_token, (SELECT id FROM workshop_runs), NOW() FROM sessions
WHERE substring(session_token from 10)::int % 20 = 0;
INSERT INTO events (student_id, session_token, event_type, event_data, created_at)
SELECT s.student_id, s.session_token, 'step_progress',
       jsonb_build_object('stepNumber', 1 + i % 9, 'timeSpent', i % 300), t
FROM generate_series(1, {recent}) AS i
CROSS JOIN LATERAL (SELECT NOW() - (i % 86000) * interval '1 second' AS t) AS times
JOIN sessions s ON s.session_token = 'ws_bench_' || (1 + i % {sessions});
VACUUM ANALYZE;
"""
# Old events are inserted last, as a table that grew would have them first: only the order
# of ids differs, and the command walks (created_at, id), not ids.
OLD_SQL = """
INSERT INTO events (student_id, session_token, event_type, event_data, created_at)
SELECT s.student_id, s.session_token, 'step_progress',
       jsonb_build_object('stepNumber', 1 + i % 9, 'timeSpent', i % 300), t
FROM generate_series(1, {old}) AS i
CROSS JOIN LATERAL (SELECT NOW() - interval '40 days' - (i % 86000) * interval '1 second'
                    AS t) AS times
JOIN sessions s ON s.session_token = 'ws_bench_' || (1 + i % {sessions});
VACUUM ANALYZE events;
"""


class Probe(threading.Thread):
    """INSERTs one event every `interval` s, as the API would; records each statement's time."""

    def __init__(self, url: str, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            i = 0
            while not self.stop.is_set():
                i += 1
                started = time.perf_counter()
                conn.execute(
                    "INSERT INTO events (session_token, student_id, event_type, event_data) "
                    "SELECT session_token, student_id, 'step_progress', '{}' FROM sessions "
                    "WHERE session_token = %s",
                    [f"ws_bench_{1 + i % SESSIONS}"],
                )
                self.waits.append(time.perf_counter() - started)
                time.sleep(self.interval)


def run_archive(url: str, *args: str) -> dict:
    from django.core.management import call_command

    probe = Probe(url)
    probe.start()
    time.sleep(0.2)
    out = StringIO()
    started = time.perf_counter()
    call_command("archive_events", *args, stdout=out)
    elapsed = time.perf_counter() - started
    probe.stop.set()
    probe.join()
    text = out.getvalue()
    moved = re.search(r"Moved (\d+) events .* in (\d+) batches; longest batch ([\d.]+) s", text)
    kept = re.search(r"Kept (\d+) older events", text)
    waits = sorted(probe.waits)
    return {
        "seconds": elapsed,
        "moved": int(moved[1]),
        "batches": int(moved[2]),
        "longest_batch": float(moved[3]),
        "kept": int(kept[1]),
        "probe_inserts": len(waits),
        "probe_max": waits[-1] if waits else 0.0,
        "probe_p99": waits[int(len(waits) * 0.99)] if waits else 0.0,
        "summary": [line for line in text.splitlines() if not line.startswith("  ")],
    }


def execute(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in sql.split(";\n"):
            if statement.strip():
                conn.execute(statement)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="tiny size, for CI")
    args = parser.parse_args()
    database, runs = DATABASE, RUNS
    if args.smoke:
        args.events, database, runs = 5_000, SMOKE_DATABASE, RUNS[:1]
        args.keep = args.write_doc = False
    sizes = {"students": STUDENTS, "sessions": SESSIONS, "recent": args.events // 5}

    url = benchlib.recreate_database(database)
    benchlib.setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="wp-archive-bench-"))
    try:
        started = time.monotonic()
        execute(url, BUILD_SQL.format(**sizes))
        print(f"built the base data in {time.monotonic() - started:.0f}s", flush=True)
        for batch_size, destination in runs:
            started = time.monotonic()
            execute(url, OLD_SQL.format(old=args.events, **sizes))
            with psycopg.connect(url) as conn:
                total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            print(f"{args.events:,} old events built in {time.monotonic() - started:.0f}s")
            target = workdir / f"events-{batch_size}.jsonl.gz"
            where = ["--to", str(target)] if destination == "file" else ["--no-archive"]
            print(f"load {benchlib.load()}; batch {batch_size}, {destination}", flush=True)
            result = run_archive(url, "--older-than", "30", "--batch-size", batch_size, *where)
            result["total_before"] = total
            if destination == "file":
                result["archive_bytes"] = target.stat().st_size
                with gzip.open(target, "rt") as archive:
                    lines = sum(1 for _ in archive)
                if lines != result["moved"]:
                    raise SystemExit(f"{lines} archived lines for {result['moved']} moved events")
                target.unlink()
            with psycopg.connect(url) as conn:
                old_left, kept_old = conn.execute(
                    "SELECT COUNT(*) FILTER (WHERE e.created_at < NOW() - interval '30 days'), "
                    "COUNT(*) FILTER (WHERE e.created_at < NOW() - interval '30 days' "
                    "AND m.session_token IS NOT NULL) "
                    "FROM events e LEFT JOIN workshop_run_sessions m USING (session_token)"
                ).fetchone()
            if old_left != kept_old or kept_old != result["kept"]:
                raise SystemExit(f"{old_left} old events left, {kept_old} of open-run sessions")
            print({k: v for k, v in result.items() if k != "summary"}, flush=True)
            results.append((batch_size, destination, result))
            # The kept events stay; the next run rebuilds the archived ones.
            execute(url, "DELETE FROM events WHERE created_at < NOW() - interval '30 days';\n")
    finally:
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
        if not args.keep:
            from django.db import connections

            connections.close_all()
            benchlib.drop_database(database)
    if args.write_doc:
        write_doc(args, results)
    return 0


def _reading(results: list) -> str:
    with_file = [(int(size), r) for size, where, r in results if where == "file"]
    fastest = min(with_file, key=lambda item: item[1]["seconds"])
    shortest = min(with_file, key=lambda item: item[1]["longest_batch"])
    text = (
        f"Fastest with an archive: batch {fastest[0]:,} ({fastest[1]['seconds']:.1f} s); "
        f"shortest locks: batch {shortest[0]:,} (longest batch "
        f"{shortest[1]['longest_batch'] * 1000:.0f} ms). The first run on the freshly built "
        "table is the slowest whatever its batch size, so the default (1,000) runs first "
        "and again last: compare the last row with the others. Writing the archive (JSON, "
        "gzip) is the difference between the archived and the `--no-archive` rows. The "
        "probe's INSERTs never wait on the command (it locks old rows only, which nothing "
        "else writes): its p99 is the shared machine's scheduling, alike in every row. A "
        "writer that does touch an old event (cleanup_sessions deleting its session) waits "
        "at most one batch."
    )
    return "\n".join(textwrap.wrap(text, width=95))


TABLE_HEADER = (
    "| batch | archive | events before | moved | kept | s | events/s | batches "
    "| longest batch ms | probe max ms | probe p99 ms | probes |"
)


def write_doc(args, results: list) -> None:
    rows = []
    for batch_size, destination, r in results:
        archive = f"{r['archive_bytes'] / 1e6:.0f} MB" if destination == "file" else "none"
        rows.append(
            f"| {int(batch_size):,} | {archive} | {r['total_before']:,} | {r['moved']:,} "
            f"| {r['kept']:,} | {r['seconds']:.1f} | {r['moved'] / r['seconds']:,.0f} "
            f"| {r['batches']} | {r['longest_batch'] * 1000:.0f} "
            f"| {r['probe_max'] * 1000:.0f} | {r['probe_p99'] * 1000:.1f} "
            f"| {r['probe_inserts']:,} |"
        )
    section = f"""{HEADING}

`archive_events --older-than 30` on an events table of about {results[0][2]["total_before"]:,}
rows: {args.events:,} events 40 days old, {args.events // 5:,} from the last day, over
{SESSIONS:,} sessions, 5% of which are in a workshop run not ended yet (their old events are
kept). The old events are rebuilt before each run. Machine: 2 cores, PostgreSQL 15, shared
with other work (load averages {benchlib.load()} after the runs); commit {benchlib.commit()}.

"longest batch" is the command's own measure of its longest transaction (SELECT ... FOR
UPDATE SKIP LOCKED of the batch, the archive write, the DELETE, COMMIT): the longest any row
lock was held. The probe INSERTs an event every 5 ms on its own connection during the run, as
the progress API does; its longest INSERT is what a writer met.

{TABLE_HEADER}
| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

{_reading(results)}

Summary of the last run:

```
{chr(10).join(results[-1][2]["summary"])}
```

Reproduce: `flock /tmp/bench.lock .venv/bin/python bench/bench_archive_events.py --write-doc`
(creates and drops the scratch database `{DATABASE}`; archives go to a temporary folder).
"""
    print(f"wrote {benchlib.write_doc_section(HEADING, section)}")


if __name__ == "__main__":
    sys.exit(main())
