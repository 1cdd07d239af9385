"""The outbox: written with the event, in its transaction, dispatched after the commit."""

import json

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from analytics.integrations import services
from analytics.integrations.models import (
    DeliveryStatus,
    EmailNotification,
    EmailStatus,
    OutboxMessage,
    Topic,
    WebhookDelivery,
)
from analytics.integrations.tests.conftest import SECRET
from analytics.integrations.webhooks import SIGNATURE_HEADER, verify
from progress.tests.factories import StepProgressFactory
from workshop.models import Student
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db
URL = "/api/student-progress"


def post(api, **body):
    return api.post(URL, body, format="json")


def complete_all_but_last(session):
    for number in range(1, 9):
        StepProgressFactory(
            session=session, student=session.student, step_number=number, validation_passed=True
        )


def test_step_completion_writes_one_outbox_row_and_a_plain_update_none(api):
    session = WorkshopSessionFactory()
    assert post(api, sessionToken=session.pk, stepNumber=2).status_code == 200
    assert OutboxMessage.objects.count() == 0

    assert post(api, sessionToken=session.pk, stepNumber=2, completed=True).status_code == 200
    message = OutboxMessage.objects.get()
    assert (message.topic, message.student_id, message.session_token, message.data) == (
        Topic.STEP_COMPLETED,
        session.student_id,
        session.pk,
        {"step": 2},
    )
    assert message.dispatched_at is None  # the test's transaction never commits

    # Completion is sticky: completing it again is no news.
    assert post(api, sessionToken=session.pk, stepNumber=2, completed=True).status_code == 200
    assert OutboxMessage.objects.count() == 1


def test_last_step_completes_the_session_once_in_the_same_insert(api):
    session = WorkshopSessionFactory()
    complete_all_but_last(session)

    with CaptureQueriesContext(connection) as queries:
        response = post(api, sessionToken=session.pk, stepNumber=9, completed=True)
    assert response.status_code == 200
    assert response.json()["progress"]["completion_rate"] == 100
    # One INSERT of both rows; on PostgreSQL inside the POST's one statement, the progress
    # function (progress/db_functions.py).
    outbox_writes = [
        q["sql"]
        for q in queries
        if "integrations_outboxmessage" in q["sql"] or "wp_record_progress" in q["sql"]
    ]
    assert len(outbox_writes) == 1
    assert outbox_writes[0].startswith(
        "SELECT wp_record_progress(" if connection.vendor == "postgresql" else "INSERT"
    )
    assert sorted(OutboxMessage.objects.values_list("topic", flat=True)) == [
        Topic.SESSION_COMPLETED,
        Topic.STEP_COMPLETED,
    ]

    assert post(api, sessionToken=session.pk, stepNumber=9, completed=True).status_code == 200
    assert OutboxMessage.objects.filter(topic=Topic.SESSION_COMPLETED).count() == 1


def test_bug_report_writes_its_outbox_row(api):
    session = WorkshopSessionFactory()
    response = api.post(
        f"/api/sessions/{session.pk}/bug-reports",
        {"description": "Step 3 hangs", "step": 3},
        format="json",
    )
    assert response.status_code == 201, response.content
    message = OutboxMessage.objects.get()
    assert message.topic == Topic.BUG_REPORTED
    assert message.data == {"step": 3, "bug_report_id": response.json()["bugReport"]["id"]}


def test_a_rolled_back_write_leaves_no_message_and_sends_nothing(
    api, endpoint, receiver, django_capture_on_commit_callbacks
):
    session = WorkshopSessionFactory()

    def write_then_fail():
        with transaction.atomic():
            post(api, sessionToken=session.pk, stepNumber=1, completed=True)
            raise RuntimeError("the write fails after the event")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        write_then_fail()
    assert callbacks == []
    assert OutboxMessage.objects.count() == 0
    assert receiver.requests == []


def test_after_commit_the_message_is_delivered_signed_and_mailed(
    api, endpoint, receiver, django_capture_on_commit_callbacks
):
    session = WorkshopSessionFactory(student__student_name="Ada <b>Lovelace</b>")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/sessions/{session.pk}/bug-reports",
            {"description": "Crash <script>alert(1)</script>", "step": 4},
            format="json",
        )
    assert response.status_code == 201

    [request] = receiver.requests
    assert verify(secret=SECRET, header=request.headers[SIGNATURE_HEADER], body=request.body)
    body = json.loads(request.body)
    message = OutboxMessage.objects.get()
    assert body["id"] == str(message.event_id) == request.headers["Workshop-Event-Id"]
    assert (body["type"], body["schema_version"]) == ("bug_reported", 1)
    assert body["data"]["bug_report"]["description"] == "Crash <script>alert(1)</script>"
    assert body["data"]["step"] == {"number": 4, "title": body["data"]["step"]["title"]}
    assert session.pk not in request.body.decode()  # the token is a credential
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )

    assert sorted(m.to[0] for m in mail.outbox) == ["helper@example.com", "lead@example.com"]
    assert set(EmailNotification.objects.values_list("status", flat=True)) == {EmailStatus.SENT}
    first = mail.outbox[0]
    html = first.alternatives[0][0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html
    assert "Crash <script>alert(1)</script>" in first.body  # plain text stays plain
    assert f"https://progress.example.com/dashboard/students/{session.student_id}/" in first.body


def test_dispatch_and_delivery_happen_once_however_often_they_are_called(endpoint, receiver):
    session = WorkshopSessionFactory()
    with transaction.atomic():
        [message] = services.record_outbox(
            [
                services.OutboxEntry(
                    topic=Topic.SESSION_COMPLETED,
                    student_id=session.student_id,
                    session_token=session.pk,
                )
            ]
        )
    assert services.dispatch_message(message_id=message.pk) is True
    assert services.dispatch_message(message_id=message.pk) is False
    delivery = WebhookDelivery.objects.get()
    services.deliver_webhook(delivery_id=delivery.pk)
    services.deliver_webhook(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1
    assert delivery.log.count() == 1


def test_only_subscribed_active_endpoints_get_a_delivery(endpoint, receiver):
    endpoint.topics = ["session_completed"]
    endpoint.save()
    session = WorkshopSessionFactory()
    with transaction.atomic():
        step, done = services.record_outbox(
            [
                services.OutboxEntry(
                    topic=Topic.STEP_COMPLETED, session_token=session.pk, data={"step": 1}
                ),
                services.OutboxEntry(topic=Topic.SESSION_COMPLETED, session_token=session.pk),
            ]
        )
    services.dispatch_message(message_id=step.pk)
    services.dispatch_message(message_id=done.pk)
    assert list(WebhookDelivery.objects.values_list("message_id", flat=True)) == [done.pk]
    # Nobody subscribed: no body is built.
    step.refresh_from_db()
    assert step.body == ""
    assert step.dispatched_at is not None


def test_the_post_only_queues_row_ids_and_makes_no_network_call(
    api, endpoint, django_capture_on_commit_callbacks, monkeypatch
):
    from analytics.integrations import tasks, webhooks

    def no_network(*args, **kwargs):
        raise AssertionError("network call during the request")

    monkeypatch.setattr(webhooks.Sender, "post", no_network)
    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", no_network)
    queued = []
    monkeypatch.setattr(
        tasks.dispatch_messages, "apply_async", lambda args, **kw: queued.append(args)
    )
    session = WorkshopSessionFactory(openai_api_key="gAAAA-stored-ciphertext")
    complete_all_but_last(session)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(api, sessionToken=session.pk, stepNumber=9, completed=True)
    assert response.status_code == 200
    assert len(callbacks) == 1
    # One publish for the request's two messages (step 9 and the session's completion).
    ids = sorted(OutboxMessage.objects.values_list("pk", flat=True))
    assert len(ids) == 2
    assert queued == [(ids,)]
    assert all(isinstance(pk, int) for pk in queued[0][0])


def test_erasing_a_student_forgets_their_messages(
    api, endpoint, receiver, django_capture_on_commit_callbacks
):
    from analytics.integrations.models import StuckAlert
    from analytics.privacy.subject_requests import anonymize_student, erase_student

    kept = WorkshopSessionFactory()
    for session in (WorkshopSessionFactory(), kept):
        with django_capture_on_commit_callbacks(execute=True):
            post(api, sessionToken=session.pk, stepNumber=1, completed=True)
    gone = OutboxMessage.objects.exclude(student_id=kept.student_id).get()
    StuckAlert.objects.create(student_id=gone.student_id, step_number=1, alerted_at=gone.created_at)
    assert WebhookDelivery.objects.count() == 2

    result = erase_student(student=Student.objects.get(pk=gone.student_id))
    assert result.rows["integrations.OutboxMessage"] == 1
    assert result.rows["integrations.WebhookDelivery"] == 1
    assert result.rows["integrations.StuckAlert"] == 1
    assert list(OutboxMessage.objects.values_list("student_id", flat=True)) == [kept.student_id]

    anonymize_student(student=kept.student)
    assert OutboxMessage.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


def test_a_report_without_a_session_is_mailed_with_its_text(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    from progress.services import file_bug_report

    with django_capture_on_commit_callbacks(execute=True):
        file_bug_report(session_token=None, report={"description": "No token <here>", "step": 2})
    message = OutboxMessage.objects.get()
    assert message.data == {
        "step": 2,
        "bug_report_inline": {"description": "No token <here>", "step": 2},
    }
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["data"]["bug_report"]["description"] == "No token <here>"
    assert (body["data"]["student"], body["data"]["session"]) == (None, None)
    assert sorted(m.to[0] for m in mail.outbox) == ["helper@example.com", "lead@example.com"]
    assert "No token &lt;here&gt;" in mail.outbox[0].alternatives[0][0]


def test_feedback_is_news_for_webhooks_only(endpoint, receiver, django_capture_on_commit_callbacks):
    from progress.services import record_feedback

    session = WorkshopSessionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        record_feedback(
            session_token=session.pk, step_number=9, feedback={"rating": 5, "message": "Loved it"}
        )
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["type"] == "feedback_submitted"
    assert body["data"]["feedback"] == {"rating": 5, "message": "Loved it"}
    assert body["data"]["step"]["number"] == 9
    assert mail.outbox == []
