"""End to end with a real `celery worker` against Redis: the outbox, the signed webhook and
the e-mail, and nothing lost or doubled when the broker is down at commit time.

Needs PostgreSQL (the worker is another process, on the same test database) and Redis:
the local one at E2E_REDIS_URL (default redis://127.0.0.1:6379/5), and redis-server on the
PATH for the broker-outage test, which runs a private server on its own port.
"""

import json
import os
import uuid
from email import message_from_string
from email.message import Message
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.integrations import services
from analytics.integrations.models import (
    DeliveryStatus,
    EmailNotification,
    EmailStatus,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
)
from analytics.integrations.tests.conftest import SECRET
from analytics.integrations.tests.worker import (
    RedisServer,
    celery_worker,
    free_port,
    publishing_to,
    wait_for,
)
from analytics.integrations.webhooks import SIGNATURE_HEADER, verify
from progress.tests.factories import StepProgressFactory
from progress.tests.redis_cache import redis_answers
from workshop.crypto import encrypt_secret
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/5")
INSTRUCTOR = "lead@example.com"


def _almost_done_session():
    session = WorkshopSessionFactory(student__student_name="Ada")
    for number in range(1, 9):
        StepProgressFactory(
            session=session, student=session.student, step_number=number, validation_passed=True
        )
    return session


def _endpoint(receiver, topics) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="receiver", url=receiver.url, topics=topics, secret_ciphertext=encrypt_secret(SECRET)
    )


def _mails(folder: Path) -> list[Message]:
    """The messages Django's file backend wrote (one per file here, each followed by a line
    of dashes)."""
    return [
        message_from_string(path.read_text().split("\n" + "-" * 79)[0])
        for path in sorted(folder.glob("*.log"))
    ]


@pytest.fixture
def worker_env(tmp_path, settings):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    settings.INSTRUCTOR_EMAILS = [INSTRUCTOR]
    return mail_dir, {
        "EMAIL_URL": f"filemail:///{mail_dir}",  # path /tmp/... after the scheme's ///
        "INSTRUCTOR_EMAILS": INSTRUCTOR,
        "SITE_URL": "https://progress.example.com",
    }


def test_a_completing_post_gives_one_signed_webhook_and_one_email(receiver, worker_env, tmp_path):
    if not redis_answers(REDIS_URL, timeout=2):
        pytest.skip(f"no Redis at {REDIS_URL} (CI starts one)")
    mail_dir, env = worker_env
    queue = f"e2e-{uuid.uuid4().hex}"
    _endpoint(receiver, ["session_completed"])
    session = _almost_done_session()

    with (
        celery_worker(broker_url=REDIS_URL, queue=queue, env=env, log=tmp_path / "worker.log"),
        publishing_to(REDIS_URL, queue),
    ):
        response = APIClient().post(
            "/api/student-progress",
            {"sessionToken": session.pk, "stepNumber": 9, "completed": True},
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["progress"]["completion_rate"] == 100
        assert wait_for(lambda: receiver.requests and _mails(mail_dir), 30), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        wait_for(lambda: False, 1)  # anything doubled would arrive now

    [request] = receiver.requests
    assert verify(secret=SECRET, header=request.headers[SIGNATURE_HEADER], body=request.body)
    body = json.loads(request.body)
    assert (body["type"], body["data"]["student"]["id"]) == (
        "session_completed",
        str(session.student_id),
    )
    assert body["data"]["session"]["completion_rate"] == 100
    [mail] = _mails(mail_dir)
    assert mail["To"] == INSTRUCTOR
    assert mail["Subject"] == "[Workshop Progress] Ada finished the workshop"
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_broker_down_at_commit_then_everything_is_delivered_exactly_once(
    receiver, worker_env, tmp_path
):
    if not RedisServer.available():
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    mail_dir, env = worker_env
    redis = RedisServer(free_port(), tmp_path / "redis.log")
    broker = f"redis://127.0.0.1:{redis.port}/0"
    queue = f"e2e-{uuid.uuid4().hex}"
    _endpoint(receiver, ["step_completed", "session_completed", "bug_reported"])
    session = _almost_done_session()
    api = APIClient()

    redis.start()
    try:
        with (
            celery_worker(broker_url=broker, queue=queue, env=env, log=tmp_path / "worker.log"),
            publishing_to(broker, queue),
        ):
            redis.stop()
            progress = api.post(
                "/api/student-progress",
                {"sessionToken": session.pk, "stepNumber": 9, "completed": True},
                format="json",
            )
            bug = api.post(
                f"/api/sessions/{session.pk}/bug-reports",
                {"description": "The deploy button spins forever", "step": 9},
                format="json",
            )
            assert (progress.status_code, bug.status_code) == (200, 201)
            assert receiver.requests == []

            redis.start()
            # The beat's sweep, once the grace period is over (here: pretend a minute passed).
            report = services.sweep(now=timezone.now() + 2 * services.SWEEP_GRACE)
            assert report.dispatched == 3
            assert wait_for(
                lambda: len(receiver.requests) >= 3 and len(_mails(mail_dir)) >= 2, 60
            ), (tmp_path / "worker.log").read_text()[-3000:]
            # Sweeping again and waiting changes nothing: delivered once.
            services.sweep(now=timezone.now() + 2 * services.SWEEP_GRACE)
            wait_for(lambda: False, 2)
    finally:
        redis.stop()

    types = sorted(json.loads(request.body)["type"] for request in receiver.requests)
    assert types == ["bug_reported", "session_completed", "step_completed"]
    for request in receiver.requests:
        assert verify(secret=SECRET, header=request.headers[SIGNATURE_HEADER], body=request.body)
    subjects = sorted(" ".join(mail["Subject"].split()) for mail in _mails(mail_dir))
    assert subjects == [
        "[Workshop Progress] Ada finished the workshop",
        "[Workshop Progress] Bug report from Ada: The deploy button spins forever",
    ]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {
        DeliveryStatus.SUCCEEDED
    }
    assert set(EmailNotification.objects.values_list("status", flat=True)) == {EmailStatus.SENT}
    assert WebhookDelivery.objects.filter(message__topic=Topic.STEP_COMPLETED).count() == 1
