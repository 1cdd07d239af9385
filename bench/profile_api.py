"""Per-request CPU of the API by layer, in one process, under cProfile (not a test).

Builds a scratch PostgreSQL database (`--database-url`, must start with wp_), seeds it, then
calls the WSGI application directly (no server, no network: the app's own CPU) with the
production settings of bench/server.py: `--requests` POSTs of bench_api.py's mix (a share
of new sessions, the rest step updates) and as many GETs by token. Prints, per scenario, the
CPU per request without the profiler, and the profiler's split by layer (each function's own
time, attributed by its module) scaled to that CPU.

    .venv/bin/python bench/profile_api.py [--requests 1500] [--new-share 0.2] [--seed-students 300]
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ROOT, manage, production_env, scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wp_profile_api"

# First match wins: (layer, substrings of the function's file path).
LAYERS = (
    ("throttle (code + redis-py)", ("progress/api/throttling", "/redis/")),
    ("DRF validation", ("rest_framework/fields", "rest_framework/serializers")),
    ("validation (ours)", ("progress/api/serializers", "progress/api/frontend_serializers")),
    ("DRF dispatch/auth/parse/render", ("rest_framework/",)),
    ("JSON", ("/json/", "orjson")),
    ("psycopg", ("psycopg",)),
    ("ORM", ("django/db/",)),
    (
        "middleware",
        (
            "django/middleware",
            "django/contrib/sessions",
            "django/contrib/auth",
            "django/contrib/messages",
            "corsheaders",
            "whitenoise",
            "axes",
            "/csp/",
            "workshop/lean_api",
            "workshop/chunked_body",
        ),
    ),
    ("Django handler/urls/http", ("django/core/handlers", "django/urls", "django/http")),
    ("services/selectors/reply", ("progress/", "workshop/", "analytics/")),
    ("Django other (signals, utils, settings)", ("django/",)),
)


def layer_of(filename: str) -> str:
    for layer, needles in LAYERS:
        if any(needle in filename for needle in needles):
            return layer
    return "other (stdlib)"


def environ_for(method: str, path: str, body: bytes = b"", query: str = "") -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def post_requests(tokens: list[str], count: int, new_share: float, rng: random.Random):
    for n in range(count):
        if rng.random() < new_share:
            token = f"profile_{os.getpid()}_{n}_{rng.randrange(10**9)}"
            body = {
                "sessionToken": token,
                "studentEmail": f"{token}@bench.example",
                "studentName": f"Bench {n}",
                "stepNumber": 1,
                "timeSpent": rng.randrange(300),
            }
        else:
            body = {
                "sessionToken": rng.choice(tokens),
                "stepNumber": rng.randrange(1, 10),
                "timeSpent": rng.randrange(300),
                "completed": rng.random() < 0.3,
            }
        yield environ_for("POST", "/api/student-progress", json.dumps(body).encode())


def get_requests(tokens: list[str], count: int, rng: random.Random):
    for _ in range(count):
        yield environ_for(
            "GET", "/api/student-progress", query=f"sessionToken={rng.choice(tokens)}"
        )


def run(application, environs) -> int:
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(int(status.split()[0]))

    for environ in environs:
        for _ in application(environ, start_response):
            pass
    bad = [s for s in statuses if not 200 <= s < 300]
    if bad:
        raise SystemExit(f"{len(bad)} non-2xx replies, first {bad[0]}")
    return len(statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--new-share", type=float, default=0.2)
    parser.add_argument("--seed-students", type=int, default=300)
    parser.add_argument("--top", type=int, default=0, help="also list the N costliest functions")
    args = parser.parse_args()

    scratch_database(args.database_url)
    env = production_env(args.database_url)
    manage("seed_demo", "--students", str(args.seed_students), "--seed", "6", env=env)
    os.environ.update(env)
    # No broker is read here: tasks run in-process, as a local run does.
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "workshop.settings"
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.wsgi import get_wsgi_application

    django.setup()
    import psycopg

    with psycopg.connect(args.database_url) as conn:
        tokens = [
            row[0]
            for row in conn.execute(
                "SELECT session_token FROM sessions WHERE is_active"
                " AND expires_at > now() + interval '2 hours'"
            )
        ]
    application = get_wsgi_application()
    rng = random.Random(6)
    scenarios = {
        "POST progress": lambda n: post_requests(tokens, n, args.new_share, rng),
        "GET by token": lambda n: get_requests(tokens, n, rng),
    }
    print(f"{args.requests} requests per scenario, {len(tokens)} writable sessions")
    for name, make in scenarios.items():
        run(application, make(100))  # warm: connections, caches, imports
        started = time.process_time()
        count = run(application, make(args.requests))
        cpu_ms = (time.process_time() - started) * 1000 / count
        # CPU time, as the figure above: waiting for PostgreSQL or Redis is not a layer's cost.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        count = run(application, make(args.requests))
        profiler.disable()
        stats = pstats.Stats(profiler).stats
        by_layer: dict[str, float] = {}
        for (filename, _line, _func), (_cc, _nc, tottime, _ct, callers) in stats.items():
            if filename != "~":
                layer = layer_of(filename)
                by_layer[layer] = by_layer.get(layer, 0.0) + tottime
                continue
            # A builtin (a C function: psycopg's execute, json's encoder...) counts for the
            # layers that called it, in proportion to the time each caller spent in it.
            for (caller_file, _l, _f), edge in callers.items():
                layer = layer_of(caller_file) if caller_file != "~" else "other (stdlib)"
                by_layer[layer] = by_layer.get(layer, 0.0) + edge[2]
        total = sum(by_layer.values())
        if args.top:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        print(f"\n### {name}: {cpu_ms:.2f} ms CPU per request (without the profiler)\n")
        print("| layer | share | ms per request |")
        print("| --- | ---: | ---: |")
        for layer, seconds in sorted(by_layer.items(), key=lambda item: -item[1]):
            share = seconds / total
            print(f"| {layer} | {share:.1%} | {share * cpu_ms:.2f} |")


if __name__ == "__main__":
    main()
