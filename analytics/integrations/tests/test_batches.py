"""Webhook batches: one endpoint's due deliveries claimed together, sent over one kept-alive
connection, recorded in bulk; and the publish pause while the broker is down."""

import datetime as dt
import time
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.integrations import services, tasks, webhooks
from analytics.integrations.models import (
    DeliveryStatus,
    OutboxMessage,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
)
from analytics.integrations.tests.conftest import SECRET
from analytics.integrations.tests.worker import free_port, publishing_to
from workshop.crypto import encrypt_secret
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def _deliveries(endpoint: WebhookEndpoint, count: int) -> list[WebhookDelivery]:
    """`count` dispatched messages with one pending delivery each, oldest first."""
    now = timezone.now()
    rows = []
    for index in range(count):
        message = OutboxMessage.objects.create(
            topic=Topic.STEP_COMPLETED,
            dispatched_at=now,
            body=f'{{"type": "step_completed", "n": {index}}}',
        )
        rows.append(
            WebhookDelivery.objects.create(
                message=message,
                endpoint=endpoint,
                next_attempt_at=now - dt.timedelta(seconds=count - index),
            )
        )
    return rows


def _state(deliveries):
    return [
        WebhookDelivery.objects.values_list("status", "attempts", "last_status_code").get(pk=d.pk)
        for d in deliveries
    ]


def test_a_batch_with_mixed_outcomes_logs_each_attempt_and_schedules_only_the_failures(
    settings, endpoint, receiver
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.statuses = [200, 500, 0, 204]  # 0: the receiver never answers
    deliveries = _deliveries(endpoint, 4)

    before = timezone.now()
    run = services.deliver_endpoint(endpoint_id=endpoint.pk)

    assert (run.attempted, run.delivered, run.retry_delays, run.more) == (4, 2, {30}, False)
    assert _state(deliveries) == [
        (DeliveryStatus.SUCCEEDED, 1, 200),
        (DeliveryStatus.RETRYING, 1, 500),
        (DeliveryStatus.RETRYING, 1, None),
        (DeliveryStatus.SUCCEEDED, 1, 204),
    ]
    attempts = [
        list(d.log.values_list("number", "status_code", "succeeded", "error")) for d in deliveries
    ]
    assert attempts == [
        [(1, 200, True, "")],
        [(1, 500, False, "")],
        [(1, None, False, "timed out after 0.3 s")],
        [(1, 204, True, "")],
    ]
    for failed in (deliveries[1], deliveries[2]):
        failed.refresh_from_db()
        assert failed.next_attempt_at >= before + dt.timedelta(seconds=30)
        assert failed.locked_until is None
    # Every request was signed on its own, with the receiver's secret and the event's id.
    for request, delivery in zip(
        [r for r in receiver.requests if r.body], deliveries, strict=False
    ):
        assert webhooks.verify(
            secret=SECRET, header=request.headers[webhooks.SIGNATURE_HEADER], body=request.body
        )
        assert request.headers["Workshop-Delivery-Id"] == str(delivery.pk)

    # Nothing is due now: the successes are done, the failures wait for their backoff.
    assert services.deliver_endpoint(endpoint_id=endpoint.pk).attempted == 0
    WebhookDelivery.objects.filter(status=DeliveryStatus.RETRYING).update(
        next_attempt_at=timezone.now()
    )
    receiver.statuses = [200]
    again = services.deliver_endpoint(endpoint_id=endpoint.pk)
    assert (again.attempted, again.delivered) == (2, 2)
    assert [row[:2] for row in _state(deliveries)] == [
        (DeliveryStatus.SUCCEEDED, n) for n in (1, 2, 2, 1)
    ]


def test_the_batch_task_queues_one_retry_for_its_failures(
    settings, endpoint, receiver, monkeypatch
):
    receiver.statuses = [500, 200, 500]
    _deliveries(endpoint, 3)
    published = []
    monkeypatch.setattr(
        services,
        "_publish",
        lambda name, args, countdown=None: not published.append((name, args, countdown)),
    )
    assert tasks.deliver_webhooks.run(endpoint.pk) == {"delivered": 1, "attempted": 3}
    assert published == [("deliver_webhooks", (endpoint.pk,), 30)]


def test_one_connection_carries_a_batch_and_the_next_one(endpoint, receiver):
    deliveries = _deliveries(endpoint, 5)
    assert services.deliver_endpoint(endpoint_id=endpoint.pk, batch=2).delivered == 5
    more = _deliveries(endpoint, 3)
    assert services.deliver_endpoint(endpoint_id=endpoint.pk).delivered == 3
    assert (receiver.count, receiver.connections) == (8, 1)
    assert {row[0] for row in _state(deliveries + more)} == {DeliveryStatus.SUCCEEDED}


def test_a_kept_connection_the_receiver_closed_is_replaced(endpoint, receiver):
    receiver.drop_after_reply = True
    first, second = _deliveries(endpoint, 2)
    assert services.deliver_endpoint(endpoint_id=endpoint.pk, batch=1).delivered == 2
    assert (receiver.count, receiver.connections) == (2, 2)
    assert [d.log.get().succeeded for d in (first, second)] == [True, True]


def test_the_database_work_of_a_batch_does_not_grow_with_its_size(endpoint, receiver):
    def queries(count: int) -> int:
        _deliveries(endpoint, count)
        with CaptureQueriesContext(connection) as captured:
            assert services.deliver_endpoint(endpoint_id=endpoint.pk).delivered == count
        return len(captured)

    assert queries(2) == queries(12)


def test_the_ssrf_guard_is_checked_for_every_batch_before_a_kept_connection_is_used(
    settings, endpoint, receiver
):
    _deliveries(endpoint, 1)
    assert services.deliver_endpoint(endpoint_id=endpoint.pk).delivered == 1
    assert len(webhooks._pool()) == 1  # a connection to the receiver is kept open

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    refused = _deliveries(endpoint, 3)
    run = services.deliver_endpoint(endpoint_id=endpoint.pk)
    assert (run.attempted, run.delivered, run.retry_delays) == (3, 0, {30})
    assert receiver.count == 1
    for delivery in refused:
        assert list(delivery.log.values_list("error", flat=True)) == [webhooks.URL_PRIVATE]


def test_each_endpoint_gets_its_own_batch_and_check(
    settings, endpoint, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    # The receiver's own endpoint counts as public here; the other one resolves to a
    # private address.
    real_check = webhooks.check_url
    monkeypatch.setattr(
        webhooks,
        "check_url",
        lambda url: "127.0.0.1" if url == endpoint.url else real_check(url),
    )
    internal = WebhookEndpoint.objects.create(
        name="internal",
        url="http://10.0.0.7/hooks",
        topics=["session_completed"],
        secret_ciphertext=encrypt_secret(SECRET),
    )
    session = WorkshopSessionFactory()
    with transaction.atomic():
        [message] = services.record_outbox(
            [services.OutboxEntry(topic=Topic.SESSION_COMPLETED, session_token=session.pk)]
        )
    queued = []
    monkeypatch.setattr(services, "queue_endpoint_batches", lambda ids: queued.extend(ids))
    with django_capture_on_commit_callbacks(execute=True):
        services.dispatch_message(message_id=message.pk)
    assert sorted(queued) == sorted([endpoint.pk, internal.pk])
    for endpoint_id in queued:
        services.deliver_endpoint(endpoint_id=endpoint_id)
    by_endpoint = dict(WebhookDelivery.objects.values_list("endpoint_id", "status"))
    assert by_endpoint == {
        endpoint.pk: DeliveryStatus.SUCCEEDED,
        internal.pk: DeliveryStatus.RETRYING,
    }
    assert internal.deliveries.get().log.get().error == webhooks.URL_PRIVATE
    assert receiver.count == 1


# ---------------------------------------------------------------------------------------
# The publish pause (the broker is down)
# ---------------------------------------------------------------------------------------
@pytest.fixture
def broker_down(settings):
    settings.OUTBOX_PUBLISH_PAUSE_SECONDS = 0.5
    with publishing_to(f"redis://127.0.0.1:{free_port()}/0", f"down-{uuid.uuid4().hex}"):
        yield


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.usefixtures("broker_down")
def test_after_a_failed_publish_publishing_pauses_then_tries_again():
    first, slow = _timed(lambda: services.queue_outbox_ids([1, 2]))
    assert first is False
    assert services.broker_paused()
    second, fast = _timed(lambda: services.queue_outbox_ids([3]))
    assert second is False
    # The first waited for the broker's retries (0.3 s of intervals), the second did not try.
    assert slow > 0.25
    assert fast < 0.05
    time.sleep(0.5)
    assert not services.broker_paused()
    third, slow_again = _timed(lambda: services.queue_outbox_ids([4]))
    assert third is False
    assert slow_again > 0.25


@pytest.mark.usefixtures("broker_down")
def test_posts_with_news_cost_no_broker_wait_while_it_is_down(
    api, django_capture_on_commit_callbacks
):
    session = WorkshopSessionFactory()

    def post(step):
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(
                "/api/student-progress",
                {"sessionToken": session.pk, "stepNumber": step, "completed": True},
                format="json",
            )

    first, waited = _timed(lambda: post(1))  # finds the broker down
    second, paused = _timed(lambda: post(2))
    assert (first.status_code, second.status_code) == (200, 200)
    assert services.broker_paused()
    # The first POST sat through the publish retries (0.3 s of intervals); the second did not.
    assert waited > 0.25
    assert paused < waited - 0.2
    # Both messages wait for the sweep, which tries the broker again.
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 2
    services.sweep(now=timezone.now() + 2 * services.SWEEP_GRACE, queue=lambda task, row_id: True)
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
