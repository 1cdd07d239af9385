"""Benchmark of the instructors' dashboards and the admin list pages at scale (not a test).

Builds a scratch PostgreSQL database with `seed_demo`'s bulk path (100,000 students give about
150,000 sessions, 870,000 step rows and 3.8 million events), or reuses it with --reuse, then
times every dashboard page, its CSV exports and the admin changelists through Django's test
client logged in as staff (production settings: DEBUG off), best and median of --runs runs
after a warm-up. Next to each page: the raw SQL for the same numbers run by plain psycopg (the
spec's example queries, shaped like the page: one page of 50 rows plus its count; hand-written
equivalents where the spec has none; for the admin, the page's own statements replayed) and
the ratio. Also records each page's query count.

    .venv/bin/python bench/bench_dashboards.py [--students 100000] [--runs 5] [--reuse]
        [--keep] [--json FILE] [--before FILE] [--explain PAGE] [--write-doc] [--smoke]

--smoke: 300 students in a throw-away database, one run, every page must answer 200; exits
non-zero on any failure (CI keeps the script working with it). Timings are never asserted.
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import benchlib
import psycopg

HEADING = "## Dashboards and admin at scale"
DATABASE = "wp_bench_scale"
SMOKE_DATABASE = "wp_bench_smoke_dashboards"
SEARCH = "lovelace"  # one last name in 28: about 3,500 students match

# The spec's example queries (schema-v2.md, "Query Examples"), shaped like the page that shows
# the same numbers: a page of 50 rows plus the total the pager shows.
SPEC_SUMMARY = """
SELECT st.student_email, st.student_name, COUNT(DISTINCT s.session_token) AS total_sessions,
       AVG(s.completion_rate) AS avg_completion, MAX(s.last_activity) AS last_active
FROM students st LEFT JOIN sessions s ON st.student_id = s.student_id
{where}
GROUP BY st.student_id, st.student_email, st.student_name
{order}
"""
SPEC_FUNNEL = """
SELECT step_number, step_name, COUNT(*) AS attempts,
       SUM(CASE WHEN validation_passed THEN 1 ELSE 0 END) AS completed,
       ROUND(AVG(time_spent)) AS avg_time_seconds
FROM step_progress GROUP BY step_number, step_name ORDER BY step_number
"""
SPEC_STUCK_WHERE = """
FROM sessions s JOIN students st ON s.student_id = st.student_id
WHERE s.is_active = TRUE AND s.last_activity < NOW() - INTERVAL '{interval}'
  AND s.completion_rate < 100
"""
SPEC_STUCK = (
    "SELECT st.student_email, s.current_step, s.last_activity, NOW() - s.last_activity "
    "AS time_inactive {where} ORDER BY s.last_activity ASC {limit}"
)
SPEC_STUDENT_SESSIONS = """
SELECT s.*, st.student_email, st.student_name FROM sessions s
JOIN students st ON s.student_id = st.student_id
WHERE st.student_email = %(email)s ORDER BY s.last_activity DESC
"""
INTERVALS = {"15m": "15 minutes", "1h": "1 hour", "4h": "4 hours", "24h": "24 hours"}


def stuck_sql(key: str, *, limit: str) -> list[str]:
    where = SPEC_STUCK_WHERE.format(interval=INTERVALS[key])
    rows = SPEC_STUCK.format(where=where, limit=limit)
    return [rows] if not limit else [rows, f"SELECT COUNT(*) {where}"]


def summary_sql(*, where: str = "", order: str, count_where: str = "") -> list[str]:
    return [
        SPEC_SUMMARY.format(where=where, order=order),
        f"SELECT COUNT(*) FROM students st {count_where}",
    ]


SEARCH_WHERE = (
    "WHERE st.student_email ILIKE %(like)s OR st.student_name ILIKE %(like)s"
    " OR st.github_username ILIKE %(like)s"
)
OVERVIEW_SQL = [
    # Totals, sessions per current step, ten stuck rows and their count, the latest events.
    """SELECT COUNT(DISTINCT student_id), COUNT(*),
              COUNT(*) FILTER (WHERE is_active AND expires_at > NOW()),
              COUNT(*) FILTER (WHERE completion_rate = 100), AVG(completion_rate)
       FROM sessions""",
    """SELECT current_step, COUNT(*) FROM sessions
       WHERE is_active AND expires_at > NOW() AND completion_rate <> 100 GROUP BY current_step""",
    *stuck_sql("24h", limit="LIMIT 10"),
    """SELECT e.*, st.student_email, s.session_token FROM events e
       LEFT JOIN students st ON st.student_id = e.student_id
       LEFT JOIN sessions s ON s.session_token = e.session_token
       ORDER BY e.created_at DESC, e.id DESC LIMIT 20""",
]


@dataclass
class Page:
    name: str
    url: str
    raw: list[str] | None  # None: replay the page's own statements
    raw_label: str


def pages(student_id: str, email: str) -> list[Page]:
    spec_page = "spec query, 50 rows + count"
    result = [
        Page("overview", "/dashboard/", OVERVIEW_SQL, "hand-written, same numbers"),
        Page("overview refresh fragment", "/dashboard/live/", OVERVIEW_SQL, "as overview"),
        Page("funnel", "/dashboard/funnel/", [SPEC_FUNNEL], "spec funnel query"),
        Page("funnel CSV", "/dashboard/funnel.csv", [SPEC_FUNNEL], "spec funnel query"),
        Page(
            "funnel drill-down (step 5, dropped)",
            "/dashboard/funnel/5/dropped/",
            [
                """SELECT p.*, s.*, st.* FROM step_progress p
                   JOIN sessions s ON s.session_token = p.session_token
                   JOIN students st ON st.student_id = p.student_id
                   WHERE p.step_number = 5 AND NOT p.validation_passed
                   ORDER BY p.started_at DESC, p.id DESC LIMIT 50""",
                "SELECT COUNT(*) FROM step_progress WHERE step_number = 5 "
                "AND NOT validation_passed",
            ],
            "hand-written, 50 rows + count",
        ),
    ]
    for key in INTERVALS:
        result.append(
            Page(
                f"stuck, {key}",
                f"/dashboard/stuck/?threshold={key}",
                stuck_sql(key, limit="LIMIT 50"),
                spec_page,
            )
        )
    result.append(
        Page("stuck CSV, 24h", "/dashboard/stuck.csv", stuck_sql("24h", limit=""), "spec query")
    )
    result += [
        Page(
            "students",
            "/dashboard/students/",
            summary_sql(order="ORDER BY last_active DESC NULLS LAST LIMIT 50"),
            spec_page,
        ),
        Page(
            f"students, search '{SEARCH}'",
            f"/dashboard/students/?q={SEARCH}",
            summary_sql(
                where=SEARCH_WHERE,
                order="ORDER BY last_active DESC NULLS LAST LIMIT 50",
                count_where=SEARCH_WHERE,
            ),
            spec_page,
        ),
        Page(
            "students, sorted by sessions",
            "/dashboard/students/?sort=-sessions",
            summary_sql(order="ORDER BY total_sessions DESC LIMIT 50"),
            spec_page,
        ),
        Page(
            "students CSV (all)",
            "/dashboard/students.csv",
            [SPEC_SUMMARY.format(where="", order="ORDER BY last_active DESC NULLS LAST")],
            "spec query, all rows",
        ),
        Page(
            "one student",
            f"/dashboard/students/{student_id}/",
            [
                SPEC_STUDENT_SESSIONS,
                "SELECT * FROM step_progress WHERE student_id = %(id)s",
                "SELECT * FROM events WHERE student_id = %(id)s "
                "ORDER BY created_at DESC, id DESC LIMIT 500",
            ],
            "spec query + steps + events",
        ),
    ]
    admin = [
        ("admin students", "/admin/workshop/student/"),
        ("admin students, search", f"/admin/workshop/student/?q={SEARCH}"),
        ("admin students, sorted by sessions", "/admin/workshop/student/?o=-4"),
        ("admin sessions", "/admin/workshop/workshopsession/"),
        ("admin sessions, filter step 3", "/admin/workshop/workshopsession/?current_step=3"),
        ("admin sessions, search email", f"/admin/workshop/workshopsession/?q={email}"),
        ("admin step progress", "/admin/progress/stepprogress/"),
        (
            "admin step progress, filter step 5 failed",
            "/admin/progress/stepprogress/?step_number=5&validation_passed__exact=0",
        ),
        ("admin step progress, search email", f"/admin/progress/stepprogress/?q={email}"),
        ("admin events", "/admin/analytics/event/"),
        (
            "admin events, filter deployment_failure",
            "/admin/analytics/event/?event_type=deployment_failure",
        ),
        ("admin events, search email", f"/admin/analytics/event/?q={email}"),
    ]
    result += [Page(name, url, None, "same statements replayed") for name, url in admin]
    return result


def build(url: str, students: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from analytics.demo.seed import seed_demo_data

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    summary = seed_demo_data(students=students, seed=6)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"built {summary} in {time.monotonic() - started:.0f}s")


def sizes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        counts = {}
        for table in ("students", "sessions", "step_progress", "events"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    return counts


def consume(response) -> int:
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def run_page(client, page: Page, *, runs: int, raw_conn, params: dict, explain: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(page.url)
        size = consume(response)
    # A snapshot now: the next request's request_started signal empties the query log.
    queries = list(captured.captured_queries)
    if response.status_code != 200:
        raise SystemExit(f"{page.name}: {page.url} answered {response.status_code}")
    statements = [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]
    if explain:
        for sql in statements:
            if sql.lstrip().upper().startswith("SELECT"):
                plan = raw_conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
                print(f"\n-- {page.name}\n{sql}\n" + "\n".join(r[0] for r in plan))

    django_time = benchlib.timed(lambda: consume(client.get(page.url)), runs=runs)
    raw_statements = page.raw if page.raw is not None else statements

    def raw() -> None:
        for sql in raw_statements:
            raw_conn.execute(sql, params if "%(" in sql else None).fetchall()

    raw_time = benchlib.timed(raw, runs=runs)
    return {
        "name": page.name,
        "url": page.url,
        "queries": len(queries),
        "bytes": size,
        "best_ms": django_time.best * 1000,
        "median_ms": django_time.median * 1000,
        "raw_best_ms": raw_time.best * 1000,
        "raw_median_ms": raw_time.median * 1000,
        "raw": page.raw_label,
    }


def table(results: list[dict], before: dict[str, dict]) -> str:
    head = "| page | queries | median ms | best ms | raw SQL best ms | ratio (best) |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: |"
    if before:
        head += " before: median ms | before: queries |"
        rule += " ---: | ---: |"
    lines = [head, rule]
    for r in results:
        ratio = r["best_ms"] / r["raw_best_ms"] if r["raw_best_ms"] else float("inf")
        line = (
            f"| {r['name']} | {r['queries']} | {r['median_ms']:.0f} | {r['best_ms']:.0f} "
            f"| {r['raw_best_ms']:.0f} ({r['raw']}) | {ratio:.2f} |"
        )
        if before:
            old = before.get(r["name"])
            line += f" {old['median_ms']:.0f} | {old['queries']} |" if old else " - | - |"
        lines.append(line)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default=DATABASE, help="scratch database (wp_bench_*)")
    parser.add_argument("--reuse", action="store_true", help="reuse the database if it exists")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--before", type=Path, help="figures of an earlier run (--json)")
    parser.add_argument("--only", help="only pages whose name contains this")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each SELECT")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="tiny size, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.students, args.runs, args.database = 300, 1, SMOKE_DATABASE
        args.reuse = args.keep = args.write_doc = False

    url = benchlib.database_url(args.database)
    reused = args.reuse and benchlib.database_exists(args.database)
    if not reused:
        benchlib.recreate_database(args.database)
    benchlib.setup_django(url)
    try:
        if not reused:
            build(url, args.students)
        counts = sizes()
        print(f"data: {counts}; load {benchlib.load()}")
        results = measure(url, args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            benchlib.drop_database(args.database)
    before = json.loads(args.before.read_text()) if args.before else {}
    print(table(results, before))
    if args.json:
        args.json.write_text(json.dumps({r["name"]: r for r in results}, indent=1))
    if args.write_doc:
        write_doc(args, counts, results, before)
    return 0


def measure(url: str, args) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from workshop.models import Student

    user, _ = get_user_model().objects.get_or_create(
        username="bench-instructor", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    # A student with two sessions, as the student page is opened for.
    student = (
        Student.objects.filter(sessions__isnull=False, student_name__isnull=False)
        .order_by("student_email")
        .first()
    )
    params = {
        "email": student.student_email,
        "id": student.student_id,
        "like": f"%{SEARCH}%",
    }
    results = []
    # The same session settings as the app (workshop/settings.py turns JIT off).
    with psycopg.connect(url, autocommit=True, options="-c jit=off") as raw_conn:
        for page in pages(str(student.student_id), student.student_email):
            if args.only and args.only not in page.name:
                continue
            if page.url.startswith("/dashboard/"):
                # The whole data set, as before workshop runs: a page defaults to the run in
                # progress (bench/bench_cockpit.py measures that).
                joiner = "&" if "?" in page.url else "?"
                page = Page(page.name, f"{page.url}{joiner}run=all", page.raw, page.raw_label)
            result = run_page(
                client,
                page,
                runs=args.runs,
                raw_conn=raw_conn,
                params=params,
                explain=args.explain,
            )
            print(
                f"{result['name']:45} {result['queries']:3} queries "
                f"median {result['median_ms']:7.0f} ms best {result['best_ms']:7.0f} ms "
                f"raw {result['raw_best_ms']:7.0f} ms",
                flush=True,
            )
            results.append(result)
    return results


def write_doc(args, counts: dict, results: list[dict], before: dict) -> None:
    section = f"""{HEADING}

Data: {counts["students"]:,} students, {counts["sessions"]:,} sessions,
{counts["step_progress"]:,} step rows, {counts["events"]:,} events (`seed_demo` bulk path, seed 6,
then `VACUUM ANALYZE`). Machine: 2 cores, 24 GiB, PostgreSQL 15 on the same host, shared with
other work (load averages {benchlib.load()} after the run); commit {benchlib.commit()}.

Each page through Django's test client logged in as staff, production settings (DEBUG off);
best and median of {args.runs} runs after a warm-up. "queries" counts every statement of the
request, the two of the login session included. "raw SQL" is plain psycopg on the same data:
the spec's example query shaped like the page (50 rows plus the count the pager shows), a
hand-written equivalent where the spec has none, or for the admin the page's own statements
replayed. Ratio = Django best / raw best. Targets: every page under 1 s, ratio under 1.5.

{table(results, before)}

"before" is the same benchmark at commit 7f4ecd0 (`bench/results/dashboards-before.json`,
load averages about 2; this run's figures are `bench/results/dashboards-after.json`).
The machine was busy with other work during these runs (load averages 5 to 8.5 on 2 cores,
against about 2 for "before"): absolute times are pessimistic and move by tens of percent
between runs. Slow spots found with `--explain` (EXPLAIN (ANALYZE, BUFFERS) of every
statement of a page) and fixed:

- **Admin search on sessions, step rows and events** (4.9 s on events, 1.3 s on step rows):
  Django's search joined students and sessions into the big table and ran `UPPER(..) LIKE`
  on every row. `StudentOrTokenSearchMixin` (workshop/admin.py) looks the matching students
  and sessions up in their own small tables first, then filters the big table by those keys
  through its indexes: two more small queries, 15x faster on events.
- **Stuck count** (400 ms even with 16 stuck sessions): "current step not validated" was a
  NOT EXISTS, which PostgreSQL ran as a hash anti-join over all 870,000 passed step rows. As
  a scalar subquery it is one probe of the (session_token, step_number) unique index per
  candidate session. The overview, which shows the stuck count, halved with it.
- **PostgreSQL JIT**: the scalar subquery above raised the stuck query's estimated cost past
  the JIT thresholds, and the stuck CSV then spent 1.1 s in JIT compilation (`JIT: ...
  Total 1082 ms` in EXPLAIN ANALYZE) for a 5 ms query. Our
  connections now set `jit=off` (workshop/settings.py, `POSTGRES_JIT=true` turns it back
  on); the raw SQL here runs with the same setting.
- **Funnel** (a parallel scan of all 19,000 pages of step_progress, then the aggregate):
  the index `idx_step_progress_funnel` on (step_number, time_spent, validation_passed)
  (migration progress/0003) holds every column the funnel reads, so PostgreSQL reads it
  alone (an index-only scan, a fifth of the pages): 260-330 ms down to 120-160 ms for the
  funnel statement; the drill-down's count uses it too.
- **CSV streaming** (students CSV 3.3 s): one chunk per row through the response and a slow
  per-cell escape; now 500-row chunks, a short path for plain strings and tuples instead of
  model instances.

Left alone: pages whose SQL takes a few milliseconds (admin changelists without a search,
one student) are dominated by rendering the page (about 40 ms for a 50-row admin
changelist, 13 ms for the student page), so their ratio says little; they are far under a
second. The stuck pages do
more than the spec's query (they leave out sessions whose current step is validated and
fetch the reasons), so their ratio to it is above 1.5 at the 15-minute threshold, where
12,000 sessions are stuck. The students CSV (100,000 rows) is a download, not a page: about
1.6 s against 0.5 s for the raw fetch, the rest being Python's per-row conversion and CSV
writing; it misses the one-second target. The
data has 870,000 step rows rather than a million: `seed_demo`'s funnel shape gives 5.8 step
rows per session on average; it was left untuned.

Reproduce: `.venv/bin/python bench/bench_dashboards.py --runs {args.runs} --keep --write-doc
--json bench/results/dashboards-after.json --before bench/results/dashboards-before.json`
(builds `{args.database}` in about two minutes; add `--reuse` to keep using it, drop it with
`--reuse` without `--keep`).
"""
    print(f"wrote {benchlib.write_doc_section(HEADING, section)}")


if __name__ == "__main__":
    sys.exit(main())
