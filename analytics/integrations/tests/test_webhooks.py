"""Signatures, the SSRF guard, retries with backoff, the attempt log and re-sending."""

import datetime as dt
import socket
import time

import pytest
from django.db import transaction
from django.utils import timezone

from analytics.integrations import services, webhooks
from analytics.integrations.models import DeliveryStatus, Topic, WebhookDelivery
from analytics.integrations.tests.conftest import SECRET
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    header = webhooks.sign(secret="s3cret", timestamp=1700000000, body=b'{"a":1}')
    # echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"body": b'{"a":2}'}, False),
        ({"secret": "other"}, False),
        ({"now_offset": 299}, True),
        ({"now_offset": 301}, False),  # a replay older than five minutes
        ({"now_offset": -301}, False),
    ],
)
def test_receivers_verify_body_secret_and_age(change, valid):
    body = b'{"a":1}'
    now = time.time()
    header = webhooks.sign(secret="s3cret", timestamp=int(now), body=body)
    assert (
        webhooks.verify(
            secret=change.get("secret", "s3cret"),
            header=header,
            body=change.get("body", body),
            now=int(now) + change.get("now_offset", 0),
        )
        is valid
    )


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1,t=2,v1=00"])
def test_malformed_signature_headers_are_refused(header):
    assert webhooks.verify(secret="s", header=header, body=b"x", now=1) is False


# ---------------------------------------------------------------------------------------
# SSRF guard
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", webhooks.URL_NOT_HTTP),
        ("file:///etc/passwd", webhooks.URL_NOT_HTTP),
        ("http:///nohost", webhooks.URL_NO_HOST),
        ("http://127.0.0.1:8000/", webhooks.URL_PRIVATE),
        ("http://localhost/", webhooks.URL_PRIVATE),
        ("http://10.1.2.3/", webhooks.URL_PRIVATE),
        ("http://192.168.0.1/", webhooks.URL_PRIVATE),
        ("http://169.254.169.254/latest/meta-data/", webhooks.URL_PRIVATE),
        ("http://[::1]/", webhooks.URL_PRIVATE),
        ("http://[::ffff:127.0.0.1]/", webhooks.URL_PRIVATE),
        ("http://0.0.0.0/", webhooks.URL_PRIVATE),
    ],
)
def test_unsafe_urls_are_refused(settings, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(webhooks.UnsafeURLError, match=message.split(";")[0]):
        webhooks.check_url(url)


def test_a_name_with_any_private_address_is_refused(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    def resolve(host, port, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(webhooks.UnsafeURLError):
        webhooks.check_url("https://mixed.example.com/hook")


def test_public_addresses_pass_and_the_setting_allows_private_ones(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, **kw: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))
        ],
    )
    webhooks.check_url("https://hooks.example.com/in")
    monkeypatch.undo()
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhooks.check_url("http://127.0.0.1:9/")


# ---------------------------------------------------------------------------------------
# Deliveries
# ---------------------------------------------------------------------------------------
def _delivery(endpoint) -> WebhookDelivery:
    session = WorkshopSessionFactory()
    with transaction.atomic():
        [message] = services.record_outbox(
            [
                services.OutboxEntry(
                    topic=Topic.STEP_COMPLETED,
                    student_id=session.student_id,
                    session_token=session.pk,
                    data={"step": 1},
                )
            ]
        )
    # Dispatch without the on-commit queueing, so each test drives the attempts itself.
    from unittest import mock

    with mock.patch.object(services, "queue_endpoint_batches"):
        services.dispatch_message(message_id=message.pk)
    return WebhookDelivery.objects.get(message=message)


def test_a_failing_receiver_is_retried_with_exponential_backoff_then_given_up(
    settings, endpoint, receiver
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500]
    receiver.reply = b"boom " * 300
    delivery = _delivery(endpoint)

    before = timezone.now()
    assert services.deliver_webhook(delivery_id=delivery.pk) == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.RETRYING,
        1,
        500,
    )
    assert before + dt.timedelta(seconds=29) < delivery.next_attempt_at
    # Not due yet: a second call (a duplicate message) does nothing.
    assert services.deliver_webhook(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.deliver_webhook(delivery_id=delivery.pk) == 60
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.deliver_webhook(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)

    log = list(delivery.log.all())
    assert [(a.number, a.status_code, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
    ]
    assert log[0].response_excerpt == ("boom " * 100)
    assert all(a.latency_ms >= 0 for a in log)


def test_backoff_doubles_and_is_capped_at_thirty_minutes():
    assert [services.backoff_seconds(n) for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1800,
        1800,
    ]


def test_a_timeout_is_logged_as_such(settings, endpoint):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts, never answers
    endpoint.url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
    endpoint.save()
    try:
        delivery = _delivery(endpoint)
        assert services.deliver_webhook(delivery_id=delivery.pk) == 30
    finally:
        listener.close()
    attempt = delivery.log.get()
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert attempt.error == "timed out after 0.3 s"


def test_a_redirect_is_a_failure_not_followed(endpoint, receiver):
    receiver.statuses = [302]
    delivery = _delivery(endpoint)
    assert services.deliver_webhook(delivery_id=delivery.pk) == 30
    assert delivery.log.get().status_code == 302


def test_a_private_url_stored_before_is_refused_at_delivery(settings, endpoint, receiver):
    delivery = _delivery(endpoint)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    services.deliver_webhook(delivery_id=delivery.pk)
    assert receiver.requests == []
    assert delivery.log.get().error == webhooks.URL_PRIVATE


def test_resend_sends_the_same_event_again_with_a_fresh_signature(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    delivery = _delivery(endpoint)
    services.deliver_webhook(delivery_id=delivery.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resend_deliveries(WebhookDelivery.objects.filter(pk=delivery.pk)) == 1
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Workshop-Event-Id"] == second.headers["Workshop-Event-Id"]
    for request in (first, second):
        assert webhooks.verify(
            secret=SECRET, header=request.headers[webhooks.SIGNATURE_HEADER], body=request.body
        )
    assert [a.number for a in delivery.log.all()] == [1, 1]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_a_worker_that_died_mid_attempt_is_recovered_by_the_sweep(endpoint, receiver):
    delivery = _delivery(endpoint)
    past = timezone.now() - dt.timedelta(minutes=5)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, attempts=1, locked_until=past
    )
    queued = []
    report = services.sweep(queue=lambda task, row_id: queued.append((task, row_id)) or True)
    assert (report.recovered, report.deliveries) == (1, 1)
    # The sweep queues the endpoint's batch, which takes every due delivery of it.
    assert queued == [("deliver_webhooks", endpoint.pk)]
    assert services.deliver_endpoint(endpoint_id=endpoint.pk).delivered == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
