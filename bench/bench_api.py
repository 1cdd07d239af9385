"""Load benchmark of the progress API under gunicorn, side by side with its limits (not a test).

1. Recreates the scratch PostgreSQL database, migrates it, seeds `--students` demo students
   (`seed_demo`) and reopens `--pool` of their sessions for writing; the pool of writable
   sessions and of students the load uses is read back. With `--existing-sessions 1000,
   100000,1000000` the whole measurement (3 to 5) is repeated at each size, the database
   grown in between with older sessions, their steps and events, added in bulk (SQL
   generate_series): cost growth.
2. Starts two gunicorns with the same settings (production env, `--workers` sync workers,
   CONN_MAX_AGE, Redis for the throttle's state, the anonymous throttle raised so it cannot
   distort the figures): the project (workshop.wsgi) and the limit, a bare psycopg WSGI app
   doing the same work in the fewest statements (bench/limit_app.py).
3. For each of `--repeat` rounds and each scenario (POST progress: `--new-share` new sessions,
   the rest updates of random steps; GET by session token; GET by student id), drives both with
   the same wrk script for `--duration` seconds, alternating which goes first: req/s,
   p50/p95/p99, non-2xx, the load averages before and after each run, and the ratio app/limit.
4. A second, labelled limit for POST: the statements one Django POST sends, captured
   (CaptureQueriesContext, BEGIN/COMMIT and savepoints included) and replayed by bare psycopg
   clients with the same concurrency and new/update mix.
5. Before the load, one deterministic workload is sent to both: the sessions, steps and
   events it leaves must be the same, and so must their replies to GETs by token (else the run
   fails: the limit would not be a limit).
6. The budgets, on the medians of the rounds: POST and GET by token each >= 0.5 of the limit,
   zero non-2xx, p99 < 100 ms at 16 connections; PASS/FAIL each.

    .venv/bin/python bench/bench_api.py [--repeat 3] [--workers 4] [--threads 1]
        [--connections 16] [--duration 15] [--students 3700] [--pool 5000]
        [--existing-sessions 0[,N...]]
        [--conn-max-age 60] [--json FILE] [--strict]
    .venv/bin/python bench/bench_api.py --smoke    # seconds; exits 1 on any error or non-2xx

Exits 1 on any error or non-2xx (and on a budget FAIL with --strict). Needs wrk
(`apt-get install wrk`), PostgreSQL and Redis on 127.0.0.1. Run it under
`flock /tmp/bench.lock` on a shared machine.
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
from benchlib import add_existing_sessions, aggregates, commit, drive, workload
from server import (
    LIMIT_APP,
    ROOT,
    log,
    manage,
    production_env,
    request,
    running_gunicorn,
    scratch_database,
)

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
def seed(database_url: str, students: int, pool: int = 0) -> tuple[list[str], list[str]]:
    """Seed the demo data; returns (the tokens of the writable pool, every student id).

    seed_demo's sessions mostly expired hours ago (it replays a workshop's past); with `pool`,
    the newest sessions are reopened (active, expiring in a day) until `pool` accept writes,
    so the load is spread over that many sessions, as a real classroom's is."""
    env = production_env(database_url)
    manage("seed_demo", "--students", str(students), "--seed", "6", env=env)
    with psycopg.connect(database_url) as conn:
        if pool:
            conn.execute(
                "UPDATE sessions SET is_active = true, expires_at = now() + interval '1 day'"
                " WHERE session_token IN (SELECT session_token FROM sessions"
                " ORDER BY (is_active AND expires_at > now() + interval '2 hours') DESC,"
                " last_activity DESC LIMIT %s)",
                [pool],
            )
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
    # The ORM path (SQLite's rule, replayed on PostgreSQL) sends the new student's uuid; the
    # PostgreSQL function makes it in the database, so its one statement has none.
    student = re.search(r"'([0-9a-f]{32})'::uuid", new_sql)
    captured["new"] = [
        sql.replace(f"{probe}@bench.example", "{email}").replace(probe, "{token}")
        for sql in captured["new"]
    ]
    if student is not None:
        captured["new"] = [sql.replace(student.group(1), "{student}") for sql in captured["new"]]
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
# Side by side: the app and its limit, alternating, repeated
# --------------------------------------------------------------------------------------------
APP, LIMIT, REPLAY = "app", "limit", "replay"
BUDGET_RATIO, BUDGET_P99_MS = 0.5, 100.0


def measured(run, label: str) -> dict:
    """Figures of one run, with the load averages around it (the machine is shared)."""
    before = os.getloadavg()
    log(f"  {label} (load {before[0]:.2f})")
    figures = run()
    figures["load_before"], figures["load_after"] = list(before), list(os.getloadavg())
    return figures


def side_by_side(servers: dict, scripts: dict, args, replay) -> list[dict]:
    """`--repeat` rounds; in each, every scenario on the app and on the limit, the order
    alternating between rounds; then the replay of Django's POST statements."""
    rounds = []
    for number in range(args.repeat):
        order = (APP, LIMIT) if number % 2 == 0 else (LIMIT, APP)
        results: dict[str, dict] = {}
        for name, _ in SCENARIOS:
            results[name] = {}
            for which in order:
                results[name][which] = measured(
                    lambda which=which, name=name: run_wrk(
                        servers[which].url + "/",
                        scripts[name],
                        connections=args.connections,
                        duration=args.duration,
                    ),
                    f"round {number + 1}, {name}, {which}",
                )
        results["POST progress"][REPLAY] = measured(replay, f"round {number + 1}, POST, replay")
        rounds.append(results)
    return rounds


def same_work(database_url: str, servers: dict, tokens: list[str]) -> list[str]:
    """The limit does the app's work: one deterministic workload sent to each leaves the same
    sessions, steps and events (aggregates, benchlib), and a GET by token gets the same reply
    (status and JSON; a 404's error text aside). Returns what differs."""
    plan = workload(sessions=12, steps_each=6)
    run = secrets.token_hex(3)
    rows = {}
    for which, server in servers.items():
        statuses = drive(plan, [server.url], f"{which}{run}_")
        if set(statuses) != {200}:
            return [f"{which}: statuses {dict(statuses)}"]
        rows[which] = aggregates(database_url, f"{which}{run}_")
    differ = [table for table in rows[APP] if rows[APP][table] != rows[LIMIT][table]]
    # And the same reply to a GET by token, for sessions of every kind the seed made.
    sample = random.Random(7).sample(tokens, min(20, len(tokens)))
    for token in [*sample, "ws_no_such_session"]:
        url = f"/api/student-progress?sessionToken={token}"
        replies = {which: request(server.url + url) for which, server in servers.items()}
        if replies[APP] != replies[LIMIT] and (replies[APP][0], replies[LIMIT][0]) != (404, 404):
            differ.append(f"GET by token reply of {token}")
            break
    return differ


def median_of(rounds: list[dict], scenario: str, which: str, key: str) -> float:
    return statistics.median(r[scenario][which][key] for r in rounds if which in r[scenario])


def budgets(rounds: list[dict], connections: int) -> list[tuple[str, bool, str]]:
    """(budget, passed, figures) on the medians of the rounds."""
    checks = []
    for scenario in ("POST progress", "GET by token"):
        ratio = statistics.median(
            r[scenario][APP]["rps"] / r[scenario][LIMIT]["rps"] for r in rounds
        )
        checks.append(
            (
                f"{scenario}: app >= {BUDGET_RATIO} of the limit",
                ratio >= BUDGET_RATIO,
                f"median ratio {ratio:.2f}",
            )
        )
        p99 = median_of(rounds, scenario, APP, "p99_us") / 1000
        checks.append(
            (
                f"{scenario}: p99 < {BUDGET_P99_MS:.0f} ms at {connections} connections",
                p99 < BUDGET_P99_MS,
                f"median p99 {p99:.1f} ms",
            )
        )
    non2xx = sum(
        r[s][w]["non2xx"] + r[s][w].get("socket_errors", 0) for r in rounds for s in r for w in r[s]
    )
    checks.append(("zero non-2xx and socket errors", non2xx == 0, f"{non2xx}"))
    return checks


def table(rounds: list[dict]) -> str:
    lines = [
        "| round | scenario | server | req/s | p50 ms | p95 ms | p99 ms | non-2xx | app/limit"
        " | load before → after |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    labels = {APP: "app", LIMIT: "limit (bare psycopg)", REPLAY: "replay of Django's SQL"}
    for number, results in enumerate(rounds, 1):
        for scenario, by_server in results.items():
            for which, r in by_server.items():
                ratio = (
                    f"{by_server[APP]['rps'] / r['rps']:.2f}" if which in (LIMIT, REPLAY) else ""
                )
                lines.append(
                    f"| {number} | {scenario} | {labels[which]} | {r['rps']:.0f} |"
                    f" {r['p50_us'] / 1000:.1f} | {r['p95_us'] / 1000:.1f} |"
                    f" {r['p99_us'] / 1000:.1f} | {r['non2xx'] + r.get('socket_errors', 0)} |"
                    f" {ratio} | {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |"
                )
    return "\n".join(lines)


def summary(rounds: list[dict]) -> str:
    lines = [
        "| scenario | app req/s | limit req/s | app/limit | app p99 ms | limit p99 ms |"
        " replay req/s | app/replay |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in rounds[0]:
        app, limit = (median_of(rounds, scenario, w, "rps") for w in (APP, LIMIT))
        ratios = [r[scenario][APP]["rps"] / r[scenario][LIMIT]["rps"] for r in rounds]
        replay = ("", "")
        if REPLAY in rounds[0][scenario]:
            replay_rps = median_of(rounds, scenario, REPLAY, "rps")
            replay = (f"{replay_rps:.0f}", f"{app / replay_rps:.2f}")
        lines.append(
            f"| {scenario} | {app:.0f} | {limit:.0f} | {statistics.median(ratios):.2f}"
            f" ({min(ratios):.2f}-{max(ratios):.2f}) |"
            f" {median_of(rounds, scenario, APP, 'p99_us') / 1000:.1f} |"
            f" {median_of(rounds, scenario, LIMIT, 'p99_us') / 1000:.1f} | {replay[0]} |"
            f" {replay[1]} |"
        )
    return "\n".join(lines)


def growth_table(by_size: dict[int, list[dict]]) -> str:
    heads = [f"{scenario} ({which})" for scenario, _ in SCENARIOS for which in (APP, LIMIT)]
    lines = [
        "| existing sessions | " + " | ".join(heads) + " | load before → after |",
        "| ---: |" + " ---: |" * len(heads) + " --- |",
    ]
    for size, rounds in by_size.items():
        cells = [
            f"{median_of(rounds, scenario, which, 'rps'):.0f}"
            for scenario, _ in SCENARIOS
            for which in (APP, LIMIT)
        ]
        first, last = rounds[0]["POST progress"][APP], rounds[-1]["GET by student id"][LIMIT]
        lines.append(
            f"| {size:,} | " + " | ".join(cells) + f" | {first['load_before'][0]:.2f} →"
            f" {last['load_after'][0]:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--students", type=int, default=3700)
    parser.add_argument("--pool", type=int, default=5000, help="writable sessions the load uses")
    parser.add_argument(
        "--existing-sessions",
        type=lambda text: sorted(int(n) for n in text.split(",")),
        default=[0],
        help="older sessions added in bulk; several sizes, comma-separated, for cost growth",
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help=">1 selects gthread workers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=15, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, alternating app/limit")
    parser.add_argument("--new-share", type=float, default=0.2)
    parser.add_argument("--conn-max-age", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a budget FAIL too")
    parser.add_argument("--smoke", action="store_true", help="tiny and quick, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.students, args.pool, args.duration, args.connections, args.workers = 30, 40, 1, 4, 2
        args.repeat = 1
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")

    started = time.monotonic()
    log(f"scratch database {args.database_url}, {args.students} students")
    scratch_database(args.database_url)
    tokens, students = seed(args.database_url, args.students, args.pool)
    statements = capture_post_statements(args.database_url, tokens)

    def replay() -> dict:
        return run_limit(
            args.database_url,
            statements,
            tokens,
            new_share=args.new_share,
            connections=args.connections,
            duration=args.duration,
        )

    env = production_env(args.database_url, conn_max_age=args.conn_max_age)
    options = {"workers": args.workers, "threads": args.threads}
    with (
        tempfile.TemporaryDirectory() as folder,
        running_gunicorn(env, **options) as app,
        running_gunicorn(env, app=LIMIT_APP, **options) as limit,
    ):
        scripts = {
            name: write_script(Path(folder), template, tokens, students, args.new_share)
            for name, template in SCENARIOS
        }
        differ = same_work(args.database_url, {APP: app, LIMIT: limit}, tokens)
        log("same rows and replies from the app and the limit: " + (", ".join(differ) or "yes"))
        by_size: dict[int, list[dict]] = {}
        for size in args.existing_sessions:
            grown = max(by_size, default=0)
            if size > grown:
                log(f"adding {size - grown:,} existing sessions in bulk (to {size:,})")
                add_existing_sessions(args.database_url, size - grown, start=grown + 1)
            by_size[size] = side_by_side({APP: app, LIMIT: limit}, scripts, args, replay)
        peaks = app.peak_rss_kib()
    rounds = by_size[args.existing_sessions[0]]
    checks = budgets(rounds, args.connections)
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads (both apps), CONN_MAX_AGE="
        f"{args.conn_max_age}; wrk 2 threads x {args.connections} connections, {args.duration}s"
        f" per run, {args.repeat} rounds; {args.students} students seeded ({len(tokens)} "
        f"writable sessions); {args.new_share:.0%} of POSTs open a new session;"
        f" commit {commit()}"
    )
    for size, size_rounds in by_size.items():
        print(f"\nWith {size:,} existing sessions added:")
        print(table(size_rounds))
        print()
        print("Medians of the rounds (ratio range in brackets):")
        print(summary(size_rounds))
    if len(by_size) > 1:
        print("\nCost growth (medians, req/s):")
        print(growth_table(by_size))
    print(
        f"replayed Django SQL per POST: {len(statements['new'])} statements (new session),"
        f" {len(statements['update'])} (update), BEGIN/COMMIT included; the limit: 2 statements"
        " in one transaction; GETs: 1 statement"
    )
    print(
        "peak RSS per app worker (VmHWM): "
        + ", ".join(f"{kib / 1024:.0f} MiB" for kib in sorted(peaks.values()))
    )
    print(
        "the limit's work: the same sessions, steps and events as the app for one deterministic"
        " workload, the same replies to GETs by token: "
        + ("yes" if not differ else f"NO, differ: {', '.join(differ)}")
    )
    print(f"budgets, with {args.existing_sessions[0]:,} existing sessions:")
    for name, passed, figures in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {figures}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "settings": {k: v for k, v in vars(args).items() if k != "json"},
                    "commit": commit(),
                    "rows_differ": differ,
                    "rounds_by_existing_sessions": by_size,
                    "budgets": [{"budget": n, "passed": p, "figures": f} for n, p, f in checks],
                    "peak_rss_kib": peaks,
                },
                indent=2,
            )
        )
    print(f"done in {time.monotonic() - started:.0f} s")
    errors = sum(
        r[s][w]["non2xx"] + r[s][w].get("socket_errors", 0)
        for size_rounds in by_size.values()
        for r in size_rounds
        for s in r
        for w in r[s]
    )
    if errors or differ:
        print(f"FAILED: {errors} errors or non-2xx; differ: {differ}", file=sys.stderr)
        return 1
    if args.strict and not all(passed for _, passed, _ in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
