"""Where the machine's CPU goes per API request under load, app against limit (not a test).

bench_api.py says how fast; this says who spends the CPU: for one scenario, drives the app
and the bare-psycopg limit (bench/limit_app.py) in turn with wrk, as bench_api.py does, and
reads every process's CPU time from /proc before and after each run: the gunicorn workers,
PostgreSQL's backends, Redis, and the kernel's interrupt handling, in ms per request. On a
machine the benchmark has to itself, what the groups leave of 2 cores is wrk and idle time.

    .venv/bin/python bench/cpu_split.py [--scenario get_token|post_progress|get_student]
        [--duration 10] [--rounds 2] [--database-url postgres://.../wp_cpu_split] [--smoke]

Needs wrk, PostgreSQL and Redis on 127.0.0.1; run it under `flock /tmp/bench.lock`.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import run_wrk, seed, write_script
from server import LIMIT_APP, log, production_env, running_gunicorn, scratch_database

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("gunicorn", "postgres", "redis")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of the live processes, by group, and the kernel's interrupt time."""
    groups = dict.fromkeys(GROUPS, 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        for group in GROUPS:
            if group in command:
                groups[group] += (int(fields[11]) + int(fields[12])) / TICK
                break
    totals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    groups["interrupts"] = (totals[5] + totals[6]) / TICK  # irq + softirq
    return groups


def measure(server, script: Path, duration: int) -> tuple[float, dict[str, float]]:
    """req/s and CPU ms per request by group, over one wrk run after a 2 s warm-up."""
    run_wrk(server.url, script, connections=16, duration=2)
    before = cpu_seconds()
    figures = run_wrk(server.url, script, connections=16, duration=duration)
    after = cpu_seconds()
    if figures["non2xx"] or figures["socket_errors"]:
        raise SystemExit(f"errors during the run: {figures}")
    return figures["rps"], {k: (after[k] - before[k]) * 1000 / figures["requests"] for k in after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/wp_cpu_split")
    parser.add_argument(
        "--scenario", default="get_token", choices=["get_token", "post_progress", "get_student"]
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny and quick, for CI")
    args = parser.parse_args()
    students, pool = (30, 40) if args.smoke else (3700, 5000)
    if args.smoke:
        args.duration, args.rounds = 1, 1

    scratch_database(args.database_url)
    tokens, students = seed(args.database_url, students, pool)
    env = production_env(args.database_url)
    print(f"{args.scenario}, {args.rounds} rounds of {args.duration} s; CPU ms per request")
    print("| round | server | req/s | " + " | ".join(GROUPS) + " | interrupts | sum |")
    print("| ---: | --- | ---: | " + " | ".join("---:" for _ in GROUPS) + " | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        script = write_script(Path(folder), f"{args.scenario}.lua", tokens, students, 0.2)
        for round_ in range(1, args.rounds + 1):
            for name, app in (("app", "workshop.wsgi"), ("limit", LIMIT_APP)):
                log(f"  round {round_}, {name}")
                with running_gunicorn(env, workers=4, app=app) as server:
                    rps, split = measure(server, script, args.duration)
                cells = [f"{split[k]:.3f}" for k in (*GROUPS, "interrupts")]
                print(
                    f"| {round_} | {name} | {rps:,.0f} | "
                    + " | ".join(cells)
                    + f" | {sum(split.values()):.3f} |"
                )


if __name__ == "__main__":
    main()
