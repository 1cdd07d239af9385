"""Load benchmark of the progress API under gunicorn, next to its raw-SQL limit (not a test).

1. Recreates the scratch PostgreSQL database, migrates it and seeds `--students` demo
   students (`seed_demo`); the pool of writable sessions and of students is read back.
2. Starts gunicorn with production settings (debug off, keys made at run time, Redis for
   the throttle's state, CONN_MAX_AGE, CONN_HEALTH_CHECKS) on a loopback port; the anonymous
   throttle is raised to 100000000/second so it cannot distort the figures.
3. Drives it with wrk (Debian's package) for `--duration` seconds per scenario:
   POST progress (`--new-share` new sessions, the rest updates of random steps of random
   sessions), GET by session token, GET by student id. Requests/s, p50/p95/p99 latency and
   the non-2xx count (must be 0) per scenario; then the peak RSS (VmHWM) of every worker.
4. The limit: the SQL statements one POST runs, captured from Django (CaptureQueriesContext,
   BEGIN/COMMIT and savepoints included), replayed by a bare psycopg program with the same
   number of concurrent clients and the same new/update mix; and the ratio of the two.

    .venv/bin/python bench/bench_api.py [--workers 4] [--threads 1] [--connections 16]
        [--duration 15] [--students 1000] [--conn-max-age 60] [--json FILE]
    .venv/bin/python bench/bench_api.py --smoke    # seconds; exits 1 on any error

Needs wrk (`apt-get install wrk`), PostgreSQL and Redis on 127.0.0.1.
"""

import argparse
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ROOT, log, manage, production_env, running_gunicorn, scratch_database

WRK_DIR = Path(__file__).resolve().parent / "wrk"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wp_load_bench"
SCENARIOS = (
    ("POST progress", "post_progress.lua"),
    ("GET by token", "get_token.lua"),
    ("GET by student id", "get_student.lua"),
)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def seed(database_url: str, students: int) -> tuple[list[str], list[str]]:
    env = production_env(database_url)
    manage("seed_demo", "--students", str(students), "--seed", "6", env=env)
    with psycopg.connect(database_url) as conn:
        # Sessions that accept writes for the whole run (active, expiring after it).
        tokens = [
            row[0]
            for row in conn.execute(
                "SELECT session_token FROM sessions WHERE is_active"
                " AND expires_at > now() + interval '2 hours' ORDER BY session_token"
            )
        ]
        ids = [str(row[0]) for row in conn.execute("SELECT student_id FROM students")]
    if not tokens:
        raise SystemExit("seed_demo made no writable session")
    return tokens, ids


def lua_list(name: str, values: list[str]) -> str:
    return f"{name} = {{" + ",".join(json.dumps(v) for v in values) + "}\n"


def write_script(folder: Path, template: str, tokens, students, new_share: float) -> Path:
    path = folder / template
    path.write_text(
        lua_list("tokens", tokens)
        + lua_list("students", students)
        + f"NEW_SHARE = {new_share}\nRUN = {json.dumps(secrets.token_hex(4))}\n"
        + (WRK_DIR / "common.lua").read_text()
        + (WRK_DIR / template).read_text()
    )
    return path


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------
def run_wrk(url: str, script: Path, *, connections: int, duration: int) -> dict:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout=10s",
        "-s",
        str(script),
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    sys.stderr.write(result.stderr)
    line = next((line for line in result.stdout.splitlines() if line.startswith("BENCH ")), None)
    if result.returncode or line is None:
        raise SystemExit(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    figures = json.loads(line.removeprefix("BENCH "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


# --------------------------------------------------------------------------------------------
# The limit: the same statements without the framework
# --------------------------------------------------------------------------------------------
def capture_post_statements(database_url: str, tokens: list[str]) -> dict[str, list[str]]:
    """The SQL of one new-session POST and of one update POST, as Django sent it."""
    os.environ.update(production_env(database_url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "workshop.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    probe = "probe_" + secrets.token_hex(6)
    bodies = {
        "new": {
            "sessionToken": probe,
            "studentEmail": f"{probe}@bench.example",
            "studentName": "Probe",
            "stepNumber": 1,
            "timeSpent": 30,
        },
        "update": {"sessionToken": tokens[0], "stepNumber": 3, "timeSpent": 30},
    }
    # The update probe's step must exist already, as for almost every update of the run.
    client.post("/api/student-progress", bodies["update"], content_type="application/json")
    captured = {}
    for kind, body in bodies.items():
        with CaptureQueriesContext(connection) as queries:
            reply = client.post("/api/student-progress", body, content_type="application/json")
        if reply.status_code != 200:
            raise SystemExit(f"probe POST failed: {reply.status_code} {reply.content[:200]}")
        captured[kind] = [query["sql"] for query in queries.captured_queries]
    connection.close()
    # Values the new-session replay must make fresh each time: token, email, student id.
    new_sql = "\n".join(captured["new"])
    student_hex = re.search(r"'([0-9a-f]{32})'::uuid", new_sql).group(1)
    captured["new"] = [
        sql.replace(f"{probe}@bench.example", "{email}")
        .replace(probe, "{token}")
        .replace(student_hex, "{student}")
        for sql in captured["new"]
    ]
    captured["update"] = [sql.replace(tokens[0], "{token}") for sql in captured["update"]]
    return captured


def _limit_client(args) -> list[float]:
    database_url, statements, tokens, new_share, duration, clients = args
    # The clock starts here, in the spawned process: starting a process can take longer than
    # a smoke run's whole window on a loaded machine.
    until = time.time() + duration
    latencies: list[float] = []
    lock = threading.Lock()

    def one_client() -> None:
        mine = []
        rng = random.Random()
        with psycopg.connect(database_url, autocommit=True) as conn:
            cursor = conn.cursor()
            while time.time() < until:
                if rng.random() < new_share:
                    token = "limit_" + secrets.token_hex(8)
                    values = {
                        "token": token,
                        "email": f"{token}@bench.example",
                        "student": uuid.uuid4().hex,
                    }
                    batch = statements["new"]
                else:
                    values = {"token": rng.choice(tokens)}
                    batch = statements["update"]
                started = time.perf_counter()
                for sql in batch:
                    for key, value in values.items():
                        sql = sql.replace("{" + key + "}", value)
                    cursor.execute(sql)
                    if cursor.description is not None:
                        cursor.fetchall()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=one_client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies


def run_limit(database_url, statements, tokens, *, new_share, connections, duration) -> dict:
    # Two processes (one per core) of threads, so the GIL is not the limit's bottleneck.
    processes = min(2, connections)
    per_process = [connections // processes + (i < connections % processes) for i in range(2)]
    jobs = [
        (database_url, statements, tokens, new_share, duration, n) for n in per_process[:processes]
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        latencies = [value for part in pool.map(_limit_client, jobs) for value in part]
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_us": quantiles[49] * 1e6,
        "p95_us": quantiles[94] * 1e6,
        "p99_us": quantiles[98] * 1e6,
        "non2xx": 0,
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def table(results: dict[str, dict]) -> str:
    lines = [
        "| scenario | requests | req/s | p50 ms | p95 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['requests']:,} | {r['rps']:.0f} | {r['p50_us'] / 1000:.1f} |"
            f" {r['p95_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {r['non2xx']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help=">1 selects gthread workers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--new-share", type=float, default=0.2)
    parser.add_argument("--conn-max-age", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny and quick, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.students, args.duration, args.connections, args.workers = 30, 2, 4, 2
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")

    log(f"scratch database {args.database_url}, {args.students} students")
    scratch_database(args.database_url)
    tokens, students = seed(args.database_url, args.students)
    env = production_env(args.database_url, conn_max_age=args.conn_max_age)
    results: dict[str, dict] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        running_gunicorn(env, workers=args.workers, threads=args.threads) as server,
    ):
        for name, template in SCENARIOS:
            script = write_script(Path(folder), template, tokens, students, args.new_share)
            log(f"{name}: wrk {args.connections} connections, {args.duration}s")
            results[name] = run_wrk(
                server.url + "/", script, connections=args.connections, duration=args.duration
            )
        peaks = server.peak_rss_kib()
    statements = capture_post_statements(args.database_url, tokens)
    log(f"limit: {len(statements['new'])} / {len(statements['update'])} statements per POST")
    results["POST limit (psycopg, same SQL)"] = run_limit(
        args.database_url,
        statements,
        tokens,
        new_share=args.new_share,
        connections=args.connections,
        duration=args.duration,
    )
    post, limit = results["POST progress"], results["POST limit (psycopg, same SQL)"]
    ratio = limit["rps"] / post["rps"]
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads, CONN_MAX_AGE="
        f"{args.conn_max_age}; wrk {args.connections} connections, {args.duration}s per "
        f"scenario; {args.students} students seeded ({len(tokens)} writable sessions), "
        f"{args.new_share:.0%} of POSTs open a new session"
    )
    print(table(results))
    print(
        f"statements per POST: {len(statements['new'])} (new session),"
        f" {len(statements['update'])} (update), BEGIN/COMMIT included"
    )
    print(f"limit / API ratio for POST: {ratio:.2f}")
    print(
        "peak RSS per worker (VmHWM): "
        + ", ".join(f"{kib / 1024:.0f} MiB" for kib in sorted(peaks.values()))
    )
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "ratio": ratio, "peak_rss_kib": peaks}, indent=2)
        )
    errors = sum(r["non2xx"] + r.get("socket_errors", 0) for r in results.values())
    if errors:
        print(f"FAILED: {errors} errors during the run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
