"""Benchmark of the instructors' cockpit for a live run (not a test).

For each size in --sizes, builds a scratch PostgreSQL database with `seed_demo`'s bulk path
(its story: 13 past daily runs and one in progress now, whose first --run-students students
attend, some stalling), then times each cockpit page through Django's test client, logged in
as an instructor assigned to every run (production settings: DEBUG off): the help queue and
the fragment its page polls every 3 s, the class grid, the run report (compared with three
earlier runs) and the run-scoped overview, funnel, stuck and students pages. Best and median
of --runs runs after a warm-up, and each page's query count.

    .venv/bin/python bench/bench_cockpit.py [--sizes 100,100000] [--run-students 100]
        [--runs 5] [--write-doc] [--smoke]

--smoke: 300 students, one run, every page must answer 200 (CI keeps the script working).
Run it under `flock /tmp/bench.lock` on a shared machine.
"""

import argparse
import sys
import time

import benchlib

HEADING = "## Instructors' cockpit (runs, help queue, grid, run report)"
DATABASE = "wp_bench_cockpit"

PAGES = [
    ("help queue (page)", "/dashboard/help/"),
    ("help queue refresh fragment", "/dashboard/help/live/"),
    ("class grid", "/dashboard/grid/"),
    ("run report", "/dashboard/report/"),
    ("overview (run)", "/dashboard/"),
    ("funnel (run)", "/dashboard/funnel/"),
    ("stuck, 15 min (run)", "/dashboard/stuck/?threshold=15m"),
    ("students (run)", "/dashboard/students/"),
    ("stuck.csv (run)", "/dashboard/stuck.csv?threshold=1h"),
]


def build(students: int, run_students: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from analytics.demo.seed import seed_demo_data

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    summary = seed_demo_data(students=students, seed=6, live_students=run_students)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"built {summary} in {time.monotonic() - started:.0f}s", flush=True)


def measure(runs: int) -> tuple[dict, list[dict]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from workshop.models import WorkshopRun
    from workshop.runs import current_run, sessions_of_run

    user, _ = get_user_model().objects.get_or_create(
        username="bench-instructor", defaults={"is_staff": True}
    )
    for run in WorkshopRun.objects.all():
        run.instructors.add(user)
    live = current_run()
    with connection.cursor() as cursor:
        counts = {}
        for table in ("students", "sessions", "step_progress", "events"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    counts["run_sessions"] = sessions_of_run(live).count()
    client = Client()
    client.force_login(user)
    results = []
    for name, url in PAGES:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code != 200:
            raise SystemExit(f"{name}: {url} answered {response.status_code}")
        queries = len(
            [
                q
                for q in captured.captured_queries
                if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
            ]
        )

        def fetch(url=url):
            reply = client.get(url)
            if reply.streaming:
                for _ in reply.streaming_content:
                    pass

        timing = benchlib.timed(fetch, runs=runs)
        best, median = timing.ms()
        results.append(
            {"name": name, "url": url, "queries": queries, "best": best, "median": median}
        )
        print(
            f"{name:32} {queries:3} queries  best {best:>5} ms  median {median:>5} ms "
            f"({len(body):,} bytes)",
            flush=True,
        )
    return counts, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,100000", help="students per database")
    parser.add_argument("--run-students", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="tiny size, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.runs, args.write_doc = "300", 1, False
    sizes = [int(size) for size in args.sizes.split(",")]
    measured = []
    url = benchlib.database_url(DATABASE)
    benchlib.setup_django(url)
    from django.db import connections

    for students in sizes:
        benchlib.recreate_database(DATABASE)
        try:
            build(students, min(args.run_students, students))
            counts, results = measure(args.runs)
            measured.append((students, counts, results))
        finally:
            connections.close_all()
            benchlib.drop_database(DATABASE)
    if args.write_doc:
        write_doc(args, measured)
    return 0


def write_doc(args, measured) -> None:
    header = "| page | " + " | ".join(
        f"queries, best / median ms at {students:,} students" for students, _, _ in measured
    )
    lines = [header + " |", "| --- |" + " --- |" * len(measured)]
    for index, (name, _url) in enumerate(PAGES):
        cells = [
            f"{results[index]['queries']}, {results[index]['best']} / {results[index]['median']}"
            for _, _, results in measured
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    data = "; ".join(
        f"{students:,} students: {c['sessions']:,} sessions, {c['step_progress']:,} step rows, "
        f"{c['events']:,} events, the run in progress has {c['run_sessions']} sessions"
        for students, c, _ in measured
    )
    table = "\n".join(lines)
    section = f"""{HEADING}

    .venv/bin/python bench/bench_cockpit.py --sizes {args.sizes} \\
        --run-students {args.run_students} --runs {args.runs} --write-doc

Data (`seed_demo` bulk path, seed 6, `VACUUM ANALYZE`): {data}. Every page is the instructor's
default view: the run in progress now. Machine: 2 cores, PostgreSQL 15 on the same host, shared
with other work (load averages {benchlib.load()} after the run); commit {benchlib.commit()}.
Django's test client, production settings, best and median of {args.runs} runs after a warm-up;
"queries" counts every statement, the login session's two included.

{table}

The query counts are the same at both sizes (tests pin them with
`django_assert_max_num_queries`): each block of a page is one statement over the run's
sessions, whatever the run's size. The help queue's page polls the refresh fragment every 3 s.
"""
    path = benchlib.write_doc_section(HEADING, section)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
