"""Scale-out proofs on this machine (not tests: they start servers and kill processes).

    .venv/bin/python bench/scaleout.py two-nodes [--smoke] [--workers 4] [--duration 10]
    .venv/bin/python bench/scaleout.py pgbouncer [--smoke] [--workers 4] [--duration 10]

two-nodes: two gunicorn instances of the app on two loopback ports, sharing the database and
Redis (CACHE_URL), with production settings. It checks
  a. the same rows as one node: a deterministic workload (fixed sessions, each its requests
     in a fixed order) run once on one node and once spread over both; the sessions',
     steps' and events' aggregates are equal;
  b. the throttle counts across both nodes: with the anonymous rate at THROTTLE_LIMIT per
     day, POSTs of one token alternating between the nodes get exactly THROTTLE_LIMIT 2xx;
  c. a node killed with SIGKILL (master and workers) mid-run loses no committed write: every
     POST answered 200 is in the database (bench/resilience.py's row check);
and measures throughput: wrk on one node, then on both at once (one wrk each), POST progress
and GET by token; the ratio two nodes / one node.

pgbouncer: a PgBouncer (pool_mode=transaction, 127.0.0.1:6432, auth_type=any, config in a
temporary folder) in front of the scratch database; the app with DATABASE_PGBOUNCER=true
(no server-side cursors, no prepared statements, no Django pool) and CONN_MAX_AGE=60 runs
the API load through it: zero errors, and its throughput next to direct connections.

Both exit 1 when a check fails. Needs wrk, PostgreSQL and Redis on 127.0.0.1 (and pgbouncer:
`apt-get install pgbouncer`). Run under `flock /tmp/bench.lock` on a shared machine.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import run_wrk, seed, write_script
from benchlib import aggregates, commit, drive, load, workload
from resilience import Failures, ProgressLoad, check_rows
from server import Gunicorn, log, production_env, request, running_gunicorn, scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wp_load_scaleout"
PROGRESS = "/api/student-progress"
PGBOUNCER_PORT = 6432
THROTTLE_LIMIT = 20
LOAD = (("POST progress", "post_progress.lua"), ("GET by token", "get_token.lua"))


# --------------------------------------------------------------------------------------------
# a. The same rows as one node (the workload and its aggregates: benchlib)
# --------------------------------------------------------------------------------------------
def same_rows(database_url, one: Gunicorn, both: list[Gunicorn], failures, *, smoke) -> None:
    plan = workload(sessions=12 if smoke else 60, steps_each=4 if smoke else 10)
    run = f"{random.getrandbits(24):06x}"
    for label, urls in (("one", [one.url]), ("two", [server.url for server in both])):
        statuses = drive(plan, urls, f"{label}{run}_")
        log(f"same rows: {label} node(s): {dict(statuses)}")
        failures.check(set(statuses) == {200}, f"{label} node(s): statuses {dict(statuses)}")
    single, double = (aggregates(database_url, f"{label}{run}_") for label in ("one", "two"))
    for table in single:
        failures.check(
            single[table] == double[table] and single[table],
            f"{table}: one node {len(single[table])} rows, two nodes {len(double[table])} rows,"
            " not equal",
        )
    log(
        "same rows: "
        + ", ".join(f"{table} {len(rows)} equal" for table, rows in single.items())
        + f" ({sum(len(bodies) for bodies in plan)} POSTs each way)"
    )


# --------------------------------------------------------------------------------------------
# b. The throttle counts across both nodes
# --------------------------------------------------------------------------------------------
def throttle_across(database_url: str, failures: Failures) -> None:
    env = production_env(
        database_url,
        # A daily window: a short run cannot straddle two windows of it (except at midnight).
        API_ANON_THROTTLE_RATE=f"{THROTTLE_LIMIT}/day",
    )
    token = f"throttle_{random.getrandbits(32):08x}"
    with running_gunicorn(env, workers=2) as a, running_gunicorn(env, workers=2) as b:
        statuses = Counter()
        for n in range(3 * THROTTLE_LIMIT):
            status, _ = request(
                (a, b)[n % 2].url + PROGRESS,
                method="POST",
                body={"sessionToken": token, "stepNumber": 1, "timeSpent": 1},
            )
            statuses[status] += 1
    log(f"throttle: {3 * THROTTLE_LIMIT} POSTs of one token over two nodes: {dict(statuses)}")
    failures.check(
        statuses == Counter({200: THROTTLE_LIMIT, 429: 2 * THROTTLE_LIMIT}),
        f"throttle across nodes: {dict(statuses)}, expected {THROTTLE_LIMIT} x 200",
    )


# --------------------------------------------------------------------------------------------
# c. A node killed mid-run
# --------------------------------------------------------------------------------------------
def kill_node(server: Gunicorn) -> None:
    """SIGKILL the node's master and every worker, as a machine failure would."""
    workers = server.worker_pids()
    for pid in [server.process.pid, *workers]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()


def node_killed(database_url: str, nodes: list[Gunicorn], failures, *, smoke) -> None:
    with ProgressLoad([node.url for node in nodes], clients=4 if smoke else 8) as load:
        time.sleep(1 if smoke else 3)
        log(f"killing node {nodes[1].url} (master {nodes[1].process.pid}) with SIGKILL")
        kill_node(nodes[1])
        time.sleep(1 if smoke else 3)
    log(f"node killed: replies {dict(load.statuses)}")
    failures.check(load.statuses[200] > 0, "no POST succeeded")
    failures.check(not any(s >= 500 for s in load.statuses), f"5xx: {dict(load.statuses)}")
    check_rows(database_url, load, failures)


# --------------------------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------------------------
def throughput(urls_sets: dict[str, list[str]], scripts, *, connections, duration) -> dict:
    """req/s (summed over the nodes), worst p99 and non-2xx of each scenario on each set of
    nodes; one wrk per node, all at once."""
    figures: dict = {}
    for name, script in scripts.items():
        for label, urls in urls_sets.items():
            before = load()
            with ThreadPoolExecutor(len(urls)) as pool:
                runs = list(
                    pool.map(
                        lambda url, script=script: run_wrk(
                            url + "/", script, connections=connections, duration=duration
                        ),
                        urls,
                    )
                )
            figures[name, label] = {
                "rps": sum(r["rps"] for r in runs),
                "p99_ms": max(r["p99_us"] for r in runs) / 1000,
                "errors": sum(r["non2xx"] + r["socket_errors"] for r in runs),
                "load": f"{before} → {load()}",
            }
            log(f"{name} on {label}: {figures[name, label]}")
    return figures


def throughput_table(figures: dict, baseline: str, other: str) -> str:
    lines = [
        f"| scenario | {baseline} req/s | {other} req/s | ratio | p99 ms ({baseline} / {other})"
        " | non-2xx | load 1/5/15 min before → after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in dict.fromkeys(scenario for scenario, _ in figures):
        a, b = figures[name, baseline], figures[name, other]
        lines.append(
            f"| {name} | {a['rps']:.0f} | {b['rps']:.0f} | {b['rps'] / a['rps']:.2f} |"
            f" {a['p99_ms']:.0f} / {b['p99_ms']:.0f} | {a['errors'] + b['errors']} |"
            f" {a['load']}; {b['load']} |"
        )
    return "\n".join(lines)


def scripts_for(database_url: str, folder: Path) -> dict[str, Path]:
    tokens, students = _pool(database_url)
    return {name: write_script(folder, template, tokens, students, 0.2) for name, template in LOAD}


def _pool(database_url: str) -> tuple[list[str], list[str]]:
    with psycopg.connect(database_url) as conn:
        tokens = [
            r[0]
            for r in conn.execute(
                "SELECT session_token FROM sessions WHERE is_active"
                " AND expires_at > now() + interval '2 hours' AND session_token LIKE 'ws_demo%'"
            )
        ]
        students = [str(r[0]) for r in conn.execute("SELECT student_id FROM students LIMIT 2000")]
    return tokens, students


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------
def two_nodes(args) -> Failures:
    failures = Failures()
    env = production_env(args.database_url, conn_max_age=60)
    options = {"workers": args.workers}
    with (
        tempfile.TemporaryDirectory() as folder,
        running_gunicorn(env, **options) as a,
        running_gunicorn(env, **options) as b,
    ):
        log(
            f"two nodes: {a.url} and {b.url}, {args.workers} workers each, Redis {env['CACHE_URL']}"
        )
        same_rows(args.database_url, a, [a, b], failures, smoke=args.smoke)
        scripts = scripts_for(args.database_url, Path(folder))
        figures = throughput(
            {"one node": [a.url], "two nodes": [a.url, b.url]},
            scripts,
            connections=args.connections,
            duration=args.duration,
        )
        node_killed(args.database_url, [a, b], failures, smoke=args.smoke)
    throttle_across(args.database_url, failures)
    for (name, label), f in figures.items():
        failures.check(f["errors"] == 0, f"{name} on {label}: {f['errors']} non-2xx or errors")
    print(
        f"two nodes: {args.workers} sync workers each, CONN_MAX_AGE=60, shared Redis and"
        f" database; wrk 2 threads x {args.connections} connections per node, {args.duration}s;"
        f" {os.cpu_count()} CPUs; commit {commit()}"
    )
    print(throughput_table(figures, "one node", "two nodes"))
    return failures


@contextmanager
def running_pgbouncer(database_url: str):
    """PgBouncer in transaction pooling on 127.0.0.1:6432 in front of the database's server;
    yields the database URL through it."""
    if shutil.which("pgbouncer") is None:
        raise SystemExit("pgbouncer is missing: apt-get install pgbouncer")
    parts = urlsplit(database_url)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "pgbouncer.ini"
        config.write_text(
            f"""[databases]
* = host={parts.hostname} port={parts.port or 5432} user={parts.username}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {PGBOUNCER_PORT}
unix_socket_dir =
auth_type = any
admin_users = {parts.username}
log_connections = 0
log_disconnections = 0
pool_mode = transaction
default_pool_size = 20
max_client_conn = 200
server_reset_query =
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""
        )
        command = ["pgbouncer", "--quiet", str(config)]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: it drops to the postgres user, which must
            # write its log and pid files.
            shutil.chown(folder, user="postgres")
            command += ["--user", "postgres"]
        process = subprocess.Popen(command)
        through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{PGBOUNCER_PORT}"))
        try:
            for _ in range(50):
                try:
                    psycopg.connect(through, connect_timeout=1).close()
                    break
                except psycopg.OperationalError:
                    if process.poll() is not None:
                        raise SystemExit("pgbouncer exited at start") from None
                    time.sleep(0.1)
            else:
                raise SystemExit("pgbouncer did not answer: " + config.read_text())
            yield through
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
            log_lines = (Path(folder) / "pgbouncer.log").read_text().splitlines()
            warnings = [line for line in log_lines if " WARNING " in line or " ERROR " in line]
            if warnings:
                log("pgbouncer warnings:\n" + "\n".join(warnings[-10:]))


def bouncer_transactions(url: str) -> int:
    """Transactions PgBouncer passed on to the database of `url` (its SHOW STATS)."""
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/pgbouncer"))
    with psycopg.connect(admin, autocommit=True) as conn:
        cursor = conn.execute("SHOW STATS")
        columns = [column.name for column in cursor.description]
        for row in cursor.fetchall():
            stats = dict(zip(columns, row, strict=True))
            if stats["database"] == parts.path.lstrip("/"):
                return int(stats["total_xact_count"])
    return 0


def pgbouncer(args) -> Failures:
    failures = Failures()
    with tempfile.TemporaryDirectory() as folder, running_pgbouncer(args.database_url) as url:
        direct_env = production_env(args.database_url, conn_max_age=60)
        bouncer_env = production_env(url, conn_max_age=60, DATABASE_PGBOUNCER="true")
        scripts = scripts_for(args.database_url, Path(folder))
        figures = {}
        with running_gunicorn(direct_env, workers=args.workers) as direct:
            figures.update(
                throughput(
                    {"direct": [direct.url]},
                    scripts,
                    connections=args.connections,
                    duration=args.duration,
                )
            )
        with running_gunicorn(bouncer_env, workers=args.workers) as bounced:
            figures.update(
                throughput(
                    {"PgBouncer": [bounced.url]},
                    scripts,
                    connections=args.connections,
                    duration=args.duration,
                )
            )
            # The resilience load's row check through the bouncer: every 200 written once.
            with ProgressLoad(bounced.url, clients=4) as load:
                time.sleep(1 if args.smoke else 3)
            log(f"PgBouncer: checked load replies {dict(load.statuses)}")
            transactions = bouncer_transactions(url)
            log(f"PgBouncer: {transactions} transactions of the database went through it")
            failures.check(
                transactions >= load.statuses[200], "the app did not go through PgBouncer"
            )
            failures.check(set(load.statuses) == {200}, f"statuses {dict(load.statuses)}")
            check_rows(args.database_url, load, failures)
    for (name, label), f in figures.items():
        failures.check(f["errors"] == 0, f"{name} via {label}: {f['errors']} non-2xx or errors")
    print(
        f"PgBouncer 1.x pool_mode=transaction default_pool_size=20 vs direct; app with"
        f" DATABASE_PGBOUNCER=true, CONN_MAX_AGE=60, {args.workers} sync workers; wrk 2 threads"
        f" x {args.connections} connections, {args.duration}s; commit {commit()}"
    )
    print(throughput_table(figures, "direct", "PgBouncer"))
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["two-nodes", "pgbouncer"])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--students", type=int, default=3700)
    parser.add_argument("--pool", type=int, default=5000, help="writable sessions of the load")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16, help="per node")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny and quick, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.students, args.pool, args.workers, args.connections, args.duration = 20, 40, 2, 4, 1
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    scratch_database(args.database_url)
    seed(args.database_url, args.students, args.pool)
    failures = two_nodes(args) if args.scenario == "two-nodes" else pgbouncer(args)
    verdict = "FAILED" if failures else "ok"
    print(f"{args.scenario}: {verdict} in {time.monotonic() - started:.0f} s")
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
