"""Who is mailed, the switches, stuck alerts (once an hour), run summaries, the settings page."""

import datetime as dt
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from analytics.integrations import run_summary, services, stuck
from analytics.integrations.models import (
    EmailNotification,
    NotificationKind,
    NotificationPreference,
    OutboxMessage,
    StuckAlert,
    Topic,
)
from analytics.integrations.views import SAVED
from analytics.models import EventType
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.models import WorkshopRun
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def _message(session, topic=Topic.BUG_REPORTED, **data) -> OutboxMessage:
    with transaction.atomic(), mock.patch.object(services, "_queue_all"):
        [message] = services.record_outbox(
            [
                services.OutboxEntry(
                    topic=topic,
                    student_id=session.student_id,
                    session_token=session.pk,
                    data=data,
                )
            ]
        )
    return message


def _recipients_of(message) -> list[str]:
    with mock.patch.object(services, "_queue_all"):
        services.dispatch_message(message_id=message.pk)
    return sorted(
        EmailNotification.objects.filter(message=message).values_list("recipient", flat=True)
    )


def test_without_a_run_instructor_emails_get_it_minus_who_switched_it_off(django_user_model):
    user = django_user_model.objects.create_user("lead", email="LEAD@example.com", is_staff=True)
    NotificationPreference.objects.create(user=user, bug_report=False)
    session = WorkshopSessionFactory()
    assert _recipients_of(_message(session)) == ["helper@example.com"]
    # The switch is per kind: stuck alerts still reach them.
    stuck_message = _message(session, topic=Topic.STUDENT_STUCK, step=1)
    assert _recipients_of(stuck_message) == ["helper@example.com", "lead@example.com"]


def test_the_instructors_of_the_sessions_run_get_it_instead(django_user_model):
    now = timezone.now()
    ada = django_user_model.objects.create_user("ada", email="ada@example.com", is_staff=True)
    gone = django_user_model.objects.create_user(
        "gone", email="gone@example.com", is_staff=True, is_active=False
    )
    run = WorkshopRun.objects.create(
        name="Berlin", starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=1)
    )
    run.instructors.add(ada, gone)
    session = WorkshopSessionFactory(started_at=now - dt.timedelta(minutes=5))
    assert _recipients_of(_message(session)) == ["ada@example.com"]


def test_nobody_configured_means_no_mail(settings):
    settings.INSTRUCTOR_EMAILS = []
    assert _recipients_of(_message(WorkshopSessionFactory())) == []


def test_subject_cannot_carry_a_header_injection():
    session = WorkshopSessionFactory(
        student__student_name="Eve\r\nBcc: victim@example.com",
        bug_reports=[{"id": "b1", "description": "x\nSubject: spoofed"}],
    )
    message = _message(session, bug_report_id="b1")
    with mock.patch.object(services, "_queue_all"):
        services.dispatch_message(message_id=message.pk)
    for email in EmailNotification.objects.all():
        services.send_email(email_id=email.pk)
    assert len(mail.outbox) == 2
    subject = mail.outbox[0].subject
    assert "\n" not in subject
    assert "\r" not in subject
    assert subject.startswith("[Workshop Progress] Bug report from Eve  Bcc: victim@example.com")
    assert sorted(m.to[0] for m in mail.outbox) == ["helper@example.com", "lead@example.com"]
    assert [m.bcc for m in mail.outbox] == [[], []]


def test_a_failing_mail_server_is_retried_then_given_up(settings):
    message = _message(WorkshopSessionFactory())
    with mock.patch.object(services, "_queue_all"):
        services.dispatch_message(message_id=message.pk)
    email = EmailNotification.objects.order_by("pk").first()
    with mock.patch(
        "django.core.mail.EmailMultiAlternatives.send", side_effect=ConnectionRefusedError("down")
    ):
        assert services.send_email(email_id=email.pk) == 30
        for _ in range(services.EMAIL_MAX_ATTEMPTS - 1):
            EmailNotification.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
            services.send_email(email_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("failed", services.EMAIL_MAX_ATTEMPTS)
    assert email.last_error == "ConnectionRefusedError: down"
    assert mail.outbox == []


# ---------------------------------------------------------------------------------------
# Stuck alerts
# ---------------------------------------------------------------------------------------
def _stuck_session(*, idle_minutes=20, attempts=3, passed=False):
    session = WorkshopSessionFactory(
        current_step=2, last_activity=timezone.now() - dt.timedelta(minutes=idle_minutes)
    )
    StepProgressFactory(
        session=session,
        student=session.student,
        step_number=2,
        attempts=attempts,
        validation_passed=passed,
    )
    return session


def test_a_stuck_student_with_a_failure_signal_is_reported_once_an_hour(
    settings, django_capture_on_commit_callbacks
):
    settings.STUCK_ALERT_AFTER_MINUTES = 10
    session = _stuck_session()
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert stuck.alert_stuck_students(now=now) == 1
    message = OutboxMessage.objects.get(topic=Topic.STUDENT_STUCK)
    assert message.data["step"] == 2
    assert message.data["signals"]["attempts"] == 3
    assert sorted(m.to[0] for m in mail.outbox) == ["helper@example.com", "lead@example.com"]
    assert "stuck on step 2" in mail.outbox[0].subject

    assert stuck.alert_stuck_students(now=now + dt.timedelta(minutes=59)) == 0
    assert stuck.alert_stuck_students(now=now + dt.timedelta(minutes=61)) == 1
    assert StuckAlert.objects.get().student_id == session.student_id


@pytest.mark.parametrize(
    "case",
    [
        {"idle_minutes": 5},  # not idle long enough
        {"attempts": 1},  # no failure signal
        {"passed": True},  # the step is done
        {"idle_minutes": 240},  # left hours ago
    ],
)
def test_no_alert_without_all_the_conditions(settings, case):
    settings.STUCK_ALERT_AFTER_MINUTES = 10
    _stuck_session(**case)
    assert stuck.alert_stuck_students() == 0


def test_a_failed_deployment_is_a_signal_and_its_error_is_shown(settings):
    settings.STUCK_ALERT_AFTER_MINUTES = 10
    session = _stuck_session(attempts=1)
    EventFactory(
        session=session,
        student=session.student,
        event_type=EventType.DEPLOYMENT_FAILURE,
        event_data={"stepNumber": 2, "error": "Twilio <401>"},
    )
    assert stuck.alert_stuck_students() == 1
    message = OutboxMessage.objects.get()
    assert message.data["signals"]["last_error"] == "Twilio <401>"
    assert (
        "Twilio &lt;401&gt;"
        in services.notifications.render(kind=NotificationKind.STUCK_STUDENT, message=message).html
    )


# ---------------------------------------------------------------------------------------
# Run summaries
# ---------------------------------------------------------------------------------------
def test_an_ended_run_gets_one_summary_to_its_instructors(
    django_user_model, django_capture_on_commit_callbacks
):
    now = timezone.now()
    ada = django_user_model.objects.create_user("ada", email="ada@example.com", is_staff=True)
    run = WorkshopRun.objects.create(
        name="Lisbon <3",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(minutes=1),
    )
    run.instructors.add(ada)
    done = WorkshopSessionFactory(started_at=now - dt.timedelta(hours=2), completion_rate=100)
    halfway = WorkshopSessionFactory(
        started_at=now - dt.timedelta(hours=2),
        completion_rate=22,
        bug_reports=[{"id": "b", "description": "Webhook 404"}],
    )
    WorkshopSessionFactory(started_at=now - dt.timedelta(days=3))  # another day, not in it
    StepProgressFactory(session=done, student=done.student, step_number=1, validation_passed=True)
    StepProgressFactory(session=halfway, student=halfway.student, step_number=1)
    for _ in range(2):
        EventFactory(
            session=halfway,
            student=halfway.student,
            event_type=EventType.DEPLOYMENT_FAILURE,
            event_data={"error": "Build failed"},
        )
    EventFactory(
        session=done,
        student=done.student,
        event_type="feedback_submitted",
        event_data={"rating": 4, "message": "Great"},
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert run_summary.record_run_summaries(now=now) == 1
    assert run_summary.record_run_summaries(now=now) == 0

    summary = OutboxMessage.objects.get(topic=Topic.RUN_ENDED).data["run"]
    assert (summary["sessions"], summary["completed_sessions"], summary["average_completion"]) == (
        2,
        1,
        61,
    )
    assert summary["funnel"][0] == {
        "step": 1,
        "title": summary["funnel"][0]["title"],
        "started": 2,
        "completed": 1,
    }
    assert summary["top_errors"] == [
        {"error": "Build failed", "count": 2},
        {"error": "Webhook 404", "count": 1},
    ]
    assert summary["feedback"] == {"count": 1, "average_rating": 4.0, "latest": ["Great"]}
    [email] = mail.outbox
    assert email.to == ["ada@example.com"]
    assert email.subject == "[Workshop Progress] Summary of Lisbon <3"
    assert "Lisbon &lt;3" in email.alternatives[0][0]
    assert "2x Build failed" in email.body


# ---------------------------------------------------------------------------------------
# The settings page
# ---------------------------------------------------------------------------------------
def test_an_instructor_switches_a_kind_off_on_their_page(client, instructor):
    client.force_login(instructor)
    page = client.get("/dashboard/notifications/")
    assert page.status_code == 200
    assert b"instructor@example.com" in page.content
    response = client.post(
        "/dashboard/notifications/",
        {"stuck_student": "on", "run_summary": "on", "session_completed": "on"},
        follow=True,
    )
    assert SAVED in response.content.decode()
    preference = NotificationPreference.objects.get(user=instructor)
    assert (preference.bug_report, preference.stuck_student, preference.run_summary) == (
        False,
        True,
        True,
    )


def test_the_settings_page_is_for_staff_only(client, django_user_model):
    assert client.get("/dashboard/notifications/").status_code == 302
    client.force_login(django_user_model.objects.create_user("student", password="x"))
    assert client.get("/dashboard/notifications/").status_code == 302
    assert NotificationPreference.objects.count() == 0
