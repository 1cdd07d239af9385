"""Peak memory of `manage.py export_progress` as the data grows (not a test).

Runs the real command (JSON and CSV, to a file) in a child process on two scratch databases
built by `seed_demo`'s bulk path: STUDENTS students (the dashboards' data set, reused with
--reuse) and one ten times smaller. Records each child's peak resident set size (wait4's
ru_maxrss), its wall time and the file size. Streaming export means the peak stays flat:
it must not grow with the data.

    .venv/bin/python bench/bench_export_memory.py [--students 100000] [--reuse] [--keep]
        [--write-doc] [--smoke]

--smoke: 300 and 30 students in throw-away databases; exits non-zero when an export fails.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

HEADING = "## Export memory"
LARGE = "wp_bench_scale"  # shared with bench_dashboards.py
SMALL = "wp_bench_export_small"


def build(name: str, students: int, *, reuse: bool) -> dict[str, int]:
    env = {**os.environ, **benchlib.BENCH_ENV, "DATABASE_URL": benchlib.database_url(name)}
    if not (reuse and benchlib.database_exists(name)):
        benchlib.recreate_database(name)
        for command in (
            ["migrate", "-v0"],
            ["seed_demo", "--students", str(students), "--seed", "6"],
        ):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=benchlib.ROOT, env=env, check=True
            )
    import psycopg

    with psycopg.connect(benchlib.database_url(name)) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("students", "sessions", "step_progress", "events")
        }


def export(name: str, fmt: str) -> dict:
    env = {**os.environ, **benchlib.BENCH_ENV, "DATABASE_URL": benchlib.database_url(name)}
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / f"export.{fmt}"
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "manage.py", "export_progress", "--format", fmt, "--output", output],
            cwd=benchlib.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"export_progress --format {fmt} on {name} failed")
        return {
            "peak_mib": usage.ru_maxrss / 1024,  # kilobytes on Linux
            "seconds": elapsed,
            "file_mib": output.stat().st_size / 2**20,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="reuse the databases if present")
    parser.add_argument("--keep", action="store_true", help="keep the databases at the end")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    large, small = LARGE, SMALL
    if args.smoke:
        args.students, args.reuse, args.keep, args.write_doc = 300, False, False, False
        large, small = "wp_bench_smoke_export_large", "wp_bench_smoke_export_small"

    results = []
    try:
        for name, students in ((small, max(1, args.students // 10)), (large, args.students)):
            counts = build(name, students, reuse=args.reuse)
            for fmt in ("json", "csv"):
                print(f"load {benchlib.load()}; {name} {fmt}", flush=True)
                result = export(name, fmt)
                print(f"  {counts} -> {result}", flush=True)
                results.append((counts, fmt, result))
    finally:
        if not args.keep:
            benchlib.drop_database(small)
            benchlib.drop_database(large)
    if args.write_doc:
        write_doc(args, results)
    return 0


def write_doc(args, results: list) -> None:
    lines = [
        f"| {counts['sessions']:,} sessions, {counts['events']:,} events | {fmt} "
        f"| {r['peak_mib']:.0f} | {r['seconds']:.1f} | {r['file_mib']:.0f} |"
        for counts, fmt, r in results
    ]
    section = f"""{HEADING}

Peak resident memory of `manage.py export_progress --format FORMAT --output FILE` (the whole
process: Python, Django and the data in flight), on the `seed_demo` data set of
{args.students:,} students and on one ten times smaller. Machine: 2 cores, 24 GiB,
PostgreSQL 15, shared with other work (load averages {benchlib.load()} after the run);
commit {benchlib.commit()}.

| data | format | peak RSS MiB | seconds | file MiB |
| --- | --- | ---: | ---: | ---: |
{chr(10).join(lines)}

Reproduce: `.venv/bin/python bench/bench_export_memory.py --reuse --write-doc` (reuses
`{LARGE}` from the dashboards benchmark when it was kept, else builds it; drops both
databases at the end unless `--keep`).
"""
    print(f"wrote {benchlib.write_doc_section(HEADING, section)}")


if __name__ == "__main__":
    sys.exit(main())
