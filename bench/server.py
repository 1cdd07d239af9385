"""A production-like gunicorn for the API benchmarks and fault tests (not a test module).

`scratch_database` drops and recreates a PostgreSQL scratch database and migrates it;
`production_env` is the environment of a real deployment (debug off, secret and encryption
keys made at run time, PostgreSQL, Redis for throttling state, persistent connections with
health checks); `Gunicorn` starts the app on a loopback port and stops it, always.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
HOST = "127.0.0.1"
# Benchmarks must measure the app, not the throttle: one client on loopback sends thousands
# of requests per second, far above the production default of 600/minute.
UNTHROTTLED_RATE = "100000000/second"
# The WSGI apps gunicorn can serve: the project, and the benchmark's bare psycopg limit.
DJANGO_APP = "workshop.wsgi"
LIMIT_APP = "limit_app:application"


def admin_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


def database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def production_env(database_url: str, *, conn_max_age: int = 60, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        CACHE_URL=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/5"),
        CONN_MAX_AGE=str(conn_max_age),
        CONN_HEALTH_CHECKS="true",
        DB_CONNECT_TIMEOUT="2",
        API_ANON_THROTTLE_RATE=UNTHROTTLED_RATE,
        API_ADDRESS_THROTTLE_RATE=UNTHROTTLED_RATE,
        API_USER_THROTTLE_RATE=UNTHROTTLED_RATE,
        DJANGO_ALLOWED_HOSTS=HOST,
        # Plain HTTP on loopback: no TLS proxy in front, so no redirect to https.
        DJANGO_SECURE_SSL_REDIRECT="false",
        WHITENOISE_USE_FINDERS="true",
        DJANGO_LOG_LEVEL="ERROR",
        # Static files are not benchmarked: no collectstatic, and no warning about it.
        PYTHONWARNINGS="ignore:No directory at",
        # Background work goes to a broker as in production (no worker reads this queue;
        # running_gunicorn empties it at the end).
        CELERY_BROKER_URL=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/5"),
        CELERY_TASK_DEFAULT_QUEUE=f"bench-{os.getpid()}",
    )
    env.update(extra)
    return env


def scratch_database(database_url: str) -> None:
    """Drop and recreate the scratch database, then migrate it."""
    name = database_name(database_url)
    if not name.startswith("wp_"):
        raise SystemExit(f"refusing to drop {name!r}: scratch databases start with wp_")
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0", env=production_env(database_url))


def drop_database(database_url: str) -> None:
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(database_url)}" WITH (FORCE)')


def manage(*args: str, env: dict) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(url: str, *, method: str = "GET", body=None, headers=None, timeout: float = 10):
    """(status, parsed JSON or None) of one HTTP call; never raises for an HTTP status."""
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


class Gunicorn:
    def __init__(
        self,
        env: dict,
        *,
        workers: int,
        threads: int = 1,
        timeout: int = 30,
        app: str = DJANGO_APP,
        port: int | None = None,
    ):
        self.env = env
        self.app = app
        self.workers = workers
        self.threads = threads
        self.timeout = timeout
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            GUNICORN,
            self.app,
            # bench/ on the path for the limit app; the project's root is the working folder.
            f"--pythonpath={ROOT / 'bench'}",
            f"--bind={HOST}:{self.port}",
            f"--workers={self.workers}",
            f"--timeout={self.timeout}",
            "--graceful-timeout=5",
            "--log-level=warning",
        ]
        if self.threads > 1:
            command += ["--worker-class=gthread", f"--threads={self.threads}"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(self.url + "/api/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise SystemExit("gunicorn exited at start")
            time.sleep(0.2)
        self.stop()
        raise SystemExit("gunicorn did not answer /api/health within 30 s")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def peak_rss_kib(self) -> dict[int, int]:
        """VmHWM (peak resident set) of every live worker, in KiB."""
        peaks = {}
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1])
        return peaks

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def running_gunicorn(env: dict, **options):
    server = Gunicorn(env, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        drop_queue(env)


def drop_queue(env: dict) -> None:
    """Delete the benchmark's Celery queue (tasks queued with no worker to run them)."""
    import redis

    if env.get("CELERY_BROKER_URL", "").startswith("redis://"):
        client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
        client.delete(env["CELERY_TASK_DEFAULT_QUEUE"])
        client.close()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
