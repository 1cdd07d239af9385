"""Dashboards served from a real PostgreSQL streaming replica of the test database.

A second cluster is made with `pg_basebackup -R` from the test server and started on a port
of its own (5433-5439); the "replica" alias is pointed at it. With the replica's WAL replay
paused, a student added on the primary is missing from the students page and the share link
while the API's own reply has it: the pages were read from the replica. Once replay resumes
they show it.

Skipped, saying why, where this cannot run: no PostgreSQL server binaries of the server's
version, or a primary that refuses replication connections (pg_hba.conf needs
`host replication all 127.0.0.1/32 trust`; .ci/run adds it).
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from workshop.models import Student
from workshop.replica import REPLICA
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA]),
]

REPLICA_PORTS = range(5433, 5440)
WAIT_SECONDS = 30


def _free_port() -> int:
    for port in REPLICA_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip(
        f"no free port for the replica among {REPLICA_PORTS.start}-{REPLICA_PORTS.stop - 1}"
    )


def _server_binaries() -> Path:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int / 10000")
        (major,) = cursor.fetchone()
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    for binary in ("pg_basebackup", "postgres"):
        if not (bindir / binary).exists():
            pytest.skip(f"no {bindir / binary}: PostgreSQL {major} server binaries are needed")
    return bindir


def _as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as root, run it as the postgres OS user.
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    return ["runuser", "-u", "postgres", "--", *command]


def _wait_for(check, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"waited {WAIT_SECONDS} s for {what}")


@pytest.fixture
def streaming_replica(settings, tmp_path_factory):
    """A hot standby of the test server, streaming, as the "replica" alias."""
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    bindir = _server_binaries()
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wp-replica-"))
    datadir = workdir / "data"
    if os.geteuid() == 0:
        server_user = pwd.getpwnam("postgres")
        os.chown(workdir, server_user.pw_uid, server_user.pw_gid)
    backup = subprocess.run(
        _as_server_user(
            [
                str(bindir / "pg_basebackup"),
                *("-D", str(datadir), "-R", "-X", "stream", "-c", "fast"),
                *("-h", primary["HOST"] or "127.0.0.1", "-p", str(primary["PORT"] or 5432)),
                *("-U", primary["USER"] or "postgres", "-w"),
            ]
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PGPASSWORD": primary["PASSWORD"] or ""},
    )
    if backup.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        if "replication connection" in backup.stderr or "pg_hba.conf" in backup.stderr:
            pytest.skip(
                "the primary refuses replication connections: add "
                "'host replication all 127.0.0.1/32 trust' to its pg_hba.conf and reload "
                f"(.ci/run does this). pg_basebackup said: {backup.stderr.strip()}"
            )
        raise AssertionError(f"pg_basebackup failed: {backup.stderr}")
    # Debian keeps the configuration outside the data directory: the copy gets its own.
    for name, text in {
        "postgresql.conf": "",
        "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        "pg_ident.conf": "",
    }.items():
        if not (datadir / name).exists():
            (datadir / name).write_text(text)
            if os.geteuid() == 0:
                os.chown(datadir / name, server_user.pw_uid, server_user.pw_gid)
    log = (workdir / "replica.log").open("w")
    server = subprocess.Popen(
        _as_server_user(
            [
                str(bindir / "postgres"),
                *("-D", str(datadir), "-p", str(port)),
                *("-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={workdir}"),
                # Limits such as max_connections come from the primary (a standby may not have
                # lower ones): only the memory is kept small.
                *("-c", "hot_standby=on", "-c", "shared_buffers=16MB"),
                *("-c", "archive_mode=off", "-c", "ssl=off", "-c", "logging_collector=off"),
            ]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    replica = connections[REPLICA]
    # A mirror shares its settings dict with the primary's: replace it, never mutate it.
    original = replica.settings_dict
    replica.close()
    replica.settings_dict = {**original, "HOST": "127.0.0.1", "PORT": str(port)}
    settings.DATABASE_ROUTERS = ["workshop.replica.ReplicaRouter"]
    try:

        def streaming() -> bool:
            if server.poll() is not None:
                raise AssertionError(
                    f"the replica stopped: {(workdir / 'replica.log').read_text()}"
                )
            try:
                with replica.cursor() as cursor:
                    cursor.execute("SELECT status FROM pg_stat_wal_receiver")
                    row = cursor.fetchone()
            except OperationalError:  # still starting: refused, or in startup
                replica.close()
                return False
            return row is not None and row[0] == "streaming"

        _wait_for(streaming, "the replica to stream")
        yield replica
    finally:
        replica.close()
        replica.settings_dict = original
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _on_replica(replica, sql: str):
    with replica.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_dashboard_pages_and_the_share_link_are_served_by_the_streaming_replica(
    streaming_replica, client
):
    replica = streaming_replica
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw"))
    first = WorkshopSessionFactory(student__student_email="first@example.com")
    _wait_for(
        lambda: Student.objects.using(REPLICA).filter(pk=first.student_id).exists(),
        "the first student to reach the replica",
    )
    assert _on_replica(replica, "SELECT pg_is_in_recovery()") is True

    _on_replica(replica, "SELECT pg_wal_replay_pause()::text")
    # A write while the replica stands still: it goes to the primary, and the API's reply
    # (read-your-write, on the primary) has it.
    posted = APIClient().post(
        "/api/student-progress",
        {"sessionToken": "ws_after_pause", "studentEmail": "second@example.com", "stepNumber": 1},
        format="json",
    )
    assert posted.status_code == 200, posted.content
    second = Student.objects.get(student_email="second@example.com")

    with CaptureQueriesContext(replica) as read:
        stale_page = client.get(reverse("dashboard:students")).content.decode()
        stale_share = APIClient().get(
            "/api/student-progress", {"studentId": str(second.student_id)}
        )
    assert "first@example.com" in stale_page
    assert "second@example.com" not in stale_page
    assert stale_share.status_code == 404  # the student is not on the replica yet
    assert read.captured_queries

    _on_replica(replica, "SELECT pg_wal_replay_resume()::text")
    _wait_for(
        lambda: Student.objects.using(REPLICA).filter(pk=second.student_id).exists(),
        "replay to catch up",
    )
    fresh_page = client.get(reverse("dashboard:students")).content.decode()
    fresh_share = APIClient().get("/api/student-progress", {"studentId": str(second.student_id)})
    assert "second@example.com" in fresh_page
    assert [s["current_step"] for s in fresh_share.json()["sessions"]] == [1]
