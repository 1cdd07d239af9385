"""Webhook delivery throughput of real Celery workers to a local receiver (not a test).

1. Recreates the scratch PostgreSQL database and migrates it; one webhook endpoint pointing at
   a receiver on 127.0.0.1 (an http.server with keep-alive, or --receiver-processes of them
   behind SO_REUSEPORT), with WEBHOOK_ALLOW_PRIVATE_URLS on.
2. Writes `--messages` outbox messages with their bodies and one pending delivery each, the
   state dispatch leaves them in (the dispatch itself is measured by the API benchmark's
   on-commit path and the tests, not here).
3. Queues what dispatch queues for them: one `deliver_webhooks(endpoint)` batch task per
   message (`--tasks per-endpoint`: one in all), then starts `celery -A workshop worker`
   (`--pool`, `--concurrency`) on its own queue in Redis and times from the first attempt's
   start to the last delivery recorded as succeeded. Each batch task claims the endpoint's
   due deliveries 50 at a time (SKIP LOCKED: concurrent tasks take disjoint rows), POSTs
   them signed over one kept-alive connection and records them in bulk.
   Prints deliveries/s, the receiver's count (must equal --messages: none lost, none twice),
   the attempt latencies, and the CPU seconds per delivery of the worker (main process and
   children), the receivers and PostgreSQL's backends on the database, sampled from /proc
   between the first and the last deliveries seen.

    .venv/bin/python bench/bench_webhooks.py [--messages 5000] [--pool prefork]
        [--concurrency 4] [--receiver-processes 2] [--tasks per-message]
        [--database-url postgres://...] [--keep]
    .venv/bin/python bench/bench_webhooks.py --receiver-only [--receiver-processes 2]
        [--concurrency 4]    # the receiver alone: keep-alive POSTs from bare http.client
    .venv/bin/python bench/bench_webhooks.py --smoke    # seconds; exits 1 on any error

Needs PostgreSQL and Redis on 127.0.0.1.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from server import PYTHON, ROOT, drop_database, log, production_env, scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wp_bench_webhooks"
DEFAULT_BROKER = "redis://127.0.0.1:6379/5"


def prepare(env: dict, *, messages: int, receiver_url: str) -> None:
    """Endpoint, messages and deliveries, written through Django in a child process (the
    secret must be encrypted with the run's key)."""
    code = f"""
import django, json, uuid
django.setup()
from django.utils import timezone
from analytics.integrations.models import OutboxMessage, WebhookDelivery, WebhookEndpoint
from workshop.crypto import encrypt_secret
endpoint = WebhookEndpoint.objects.create(
    name="bench", url={receiver_url!r}, topics=["step_completed"],
    secret_ciphertext=encrypt_secret("bench-secret-0123456789abcdef"))
now = timezone.now()
rows = [OutboxMessage(topic="step_completed", dispatched_at=now, body=json.dumps(
    {{"id": str(uuid.uuid4()), "type": "step_completed", "schema_version": 1,
      "data": {{"step": {{"number": 3}}}}}})) for _ in range({messages})]
rows = OutboxMessage.objects.bulk_create(rows, batch_size=2000)
WebhookDelivery.objects.bulk_create(
    [WebhookDelivery(message=m, endpoint=endpoint, next_attempt_at=now) for m in rows],
    batch_size=2000)
"""
    subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, check=True)


def start_receivers(processes: int) -> tuple[str, list[subprocess.Popen], Path]:
    """Receivers in their own processes, so the benchmark's Python does not slow them."""
    folder = Path(tempfile.mkdtemp(prefix="wp-receiver-"))
    from server import free_port

    port = free_port()
    code = f"""
import http.server, os, socket, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(os.path.join({str(folder)!r}, str(os.getpid())), "a") as f:
            f.write("x")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()
Server(("127.0.0.1", {port}), Handler).serve_forever()
"""
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(processes)]
    time.sleep(0.5)
    return f"http://127.0.0.1:{port}/hooks", procs, folder


def received(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(child) for child in task.read_text().split())
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (0 for one that has gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def receiver_only(args) -> int:
    """The receiver's own ceiling: `--concurrency` client processes, each POSTing the
    benchmark's body over one kept-alive http.client connection for 5 seconds."""
    url, receivers, folder = start_receivers(args.receiver_processes)
    port = int(url.split(":")[2].split("/")[0])
    code = f"""
import http.client, socket, time
connection = http.client.HTTPConnection("127.0.0.1", {port})
connection.connect()
# As the worker's sender does: without these, http.server's two-segment reply waits 40 ms.
connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
body = b'{{"id": "0b6d1d52-3f8e-4a8e-9a55-0d9d6b4c3a10", "type": "step_completed"}}' * 4
count, stop = 0, time.monotonic() + 5
while time.monotonic() < stop:
    connection.request("POST", "/hooks", body=body, headers={{"Content-Type": "application/json"}})
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    connection.getresponse().read()
    count += 1
print(count)
"""
    try:
        before = cpu_seconds([p.pid for p in receivers])
        clients = [
            subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
            for _ in range(args.concurrency)
        ]
        count = sum(int(client.communicate()[0]) for client in clients)
        receiver_cpu = cpu_seconds([p.pid for p in receivers]) - before
    finally:
        for receiver in receivers:
            receiver.terminate()
            receiver.wait()
    figures = {
        "receiver_processes": args.receiver_processes,
        "clients": args.concurrency,
        "requests": count,
        "requests_per_second": round(count / 5, 1),
        "receiver_cpu_ms_per_request": round(1000 * receiver_cpu / max(count, 1), 3),
        "received": received(folder),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(figures, indent=2))
    return 0 if figures["received"] == count else 1


def cpu_per_delivery(samples: list[tuple]) -> dict | None:
    """CPU milliseconds per delivery between the first and last samples (the worker's start-up
    and the receivers' idle time left out). PostgreSQL's share counts the backends alive at
    each sample (the worker's connections persist)."""
    if len(samples) < 2 or samples[-1][0] == samples[0][0]:
        return None
    first, last = samples[0], samples[-1]
    count = last[0] - first[0]
    worker, receiver, database = (round(1000 * (last[i] - first[i]) / count, 3) for i in (1, 2, 3))
    return {
        "deliveries_sampled": count,
        "worker": worker,
        "receiver": receiver,
        "postgresql": database,
        "total": round(worker + receiver + database, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER))
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--receiver-processes", type=int, default=2)
    parser.add_argument(
        "--tasks",
        default="per-message",
        choices=["per-message", "per-endpoint"],
        help="batch tasks queued: one per message (what dispatch does) or one in all",
    )
    parser.add_argument("--receiver-only", action="store_true", help="measure the receiver")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--smoke", action="store_true", help="tiny and quick, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.concurrency = 100, 2
    if args.receiver_only:
        return receiver_only(args)

    log(f"scratch database {args.database_url}")
    scratch_database(args.database_url)
    url, receivers, folder = start_receivers(args.receiver_processes)
    queue = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
    env = production_env(
        args.database_url,
        CELERY_BROKER_URL=args.broker_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        WEBHOOK_ALLOW_PRIVATE_URLS="true",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="workshop.settings",
    )
    worker = None
    try:
        prepare(env, messages=args.messages, receiver_url=url)
        # Everything is queued before the worker starts, so the timing is the worker's alone:
        # from its first attempt's start to the last delivery recorded as succeeded.
        queue_code = f"""
import django
django.setup()
from analytics.integrations.models import WebhookDelivery
from analytics.integrations.tasks import deliver_webhooks
endpoints = WebhookDelivery.objects.order_by("pk").values_list("endpoint_id", flat=True)
if {args.tasks == "per-endpoint"!r}:
    endpoints = sorted(set(endpoints))
for endpoint_id in endpoints:
    deliver_webhooks.delay(endpoint_id)
"""
        subprocess.run([PYTHON, "-c", queue_code], cwd=ROOT, env=env, check=True)
        log(
            f"{args.messages} deliveries, batch tasks {args.tasks}; "
            f"worker: {args.pool} x {args.concurrency}"
        )
        worker = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "workshop",
                "worker",
                f"--pool={args.pool}",
                f"--concurrency={args.concurrency}",
                "--queues",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=WARNING",
                "--hostname",
                f"{queue}@%h",
            ],
            cwd=ROOT,
            env=env,
        )
        started = time.monotonic()
        receiver_pids = [p.pid for p in receivers]
        samples = []  # (delivered, worker CPU, receivers' CPU, PostgreSQL backends' CPU)
        pg_seen: dict[int, float] = {}
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            backends = """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()"""
            while True:
                done = conn.execute(
                    "SELECT COUNT(*) FROM integrations_webhookdelivery WHERE status = 'succeeded'"
                ).fetchone()[0]
                if done:
                    # A backend that ends keeps its last reading, so it is not subtracted.
                    for (pid,) in conn.execute(backends):
                        pg_seen[pid] = cpu_seconds([pid]) or pg_seen.get(pid, 0.0)
                    samples.append(
                        (
                            done,
                            cpu_seconds(process_tree(worker.pid)),
                            cpu_seconds(receiver_pids),
                            sum(pg_seen.values()),
                        )
                    )
                if done >= args.messages or time.monotonic() - started > 600:
                    break
                time.sleep(0.2)
            # From the first attempt's start to the last delivery recorded as succeeded (its
            # batch's attempt log and status written).
            first, last = conn.execute(
                "SELECT (SELECT MIN(started_at) FROM integrations_webhookattempt),"
                " (SELECT MAX(delivered_at) FROM integrations_webhookdelivery)"
            ).fetchone()
            elapsed = (last - first).total_seconds()
            latencies = [
                row[0] for row in conn.execute("SELECT latency_ms FROM integrations_webhookattempt")
            ]
            failed = conn.execute(
                "SELECT COUNT(*) FROM integrations_webhookattempt WHERE NOT succeeded"
            ).fetchone()[0]
    finally:
        import redis

        # The batch tasks queued for messages whose deliveries another task took are no-ops:
        # drop them rather than make the worker's warm shutdown wait for them.
        redis.Redis.from_url(args.broker_url).delete(queue)
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for receiver in receivers:
            receiver.terminate()
        if not args.keep:
            drop_database(args.database_url)
    count = received(folder)
    rate = done / elapsed
    latencies.sort()
    figures = {
        "messages": args.messages,
        "delivered": done,
        "received": count,
        "failed_attempts": failed,
        "seconds": round(elapsed, 2),
        "deliveries_per_second": round(rate, 1),
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p95": latencies[int(len(latencies) * 0.95) - 1] if latencies else None,
        "cpu_ms_per_delivery": cpu_per_delivery(samples),
        "tasks": args.tasks,
        "pool": args.pool,
        "concurrency": args.concurrency,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if done != args.messages or count != args.messages or failed:
        print("FAILED: deliveries lost, doubled or failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
