"""record_progress and the other progress use cases: the POST rules, one by one."""

import datetime as dt

import pytest
from django.utils import timezone

from analytics.models import Event, EventType
from analytics.tests.factories import EventFactory
from progress.models import StepProgress
from progress.services import StepUpdate, record_deployment, record_progress, report_bug
from progress.tests.factories import StepProgressFactory
from workshop.errors import (
    SESSION_BELONGS_TO_ANOTHER_STUDENT,
    SESSION_CLOSED,
    SESSION_NOT_FOUND,
    ApplicationError,
)
from workshop.models import ANONYMOUS_EMAIL_DOMAIN, Student, WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

TOKEN = "ws_test_token_1"


def event_types(session_token: str) -> list[str]:
    return list(
        Event.objects.filter(session_id=session_token)
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def step_row(session_token: str, number: int) -> StepProgress:
    return StepProgress.objects.get(session_id=session_token, step_number=number)


def test_first_post_creates_student_session_and_step_with_events():
    reply = record_progress(
        session_token=TOKEN,
        email="  Ada@Example.COM ",
        name="Ada",
        step=StepUpdate(step_number=3, time_spent=120),
    )

    student = Student.objects.get()
    assert (student.student_email, student.student_name) == ("ada@example.com", "Ada")
    assert WorkshopSession.objects.get(pk=TOKEN).student_id == student.pk
    # This session created the student: its reply may say who the student is.
    assert (reply["student_id"], reply["student_name"]) == (str(student.pk), "Ada")
    row = step_row(TOKEN, 3)
    assert (row.step_name, row.attempts, row.time_spent, row.validation_passed) == (
        "Services",
        1,
        120,
        False,
    )
    assert row.student_id == student.pk
    assert event_types(TOKEN) == ["session_created", "step_started", "step_progress"]


def test_updates_add_time_count_attempts_and_keep_completion_sticky():
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=2, time_spent=100))
    record_progress(
        session_token=TOKEN, step=StepUpdate(step_number=2, time_spent=50, completed=True)
    )
    first_completed_at = step_row(TOKEN, 2).completed_at
    record_progress(
        session_token=TOKEN, step=StepUpdate(step_number=2, time_spent=25, completed=False)
    )
    record_progress(
        session_token=TOKEN, step=StepUpdate(step_number=2, time_spent=5, completed=True)
    )

    row = step_row(TOKEN, 2)
    assert (row.attempts, row.time_spent, row.validation_passed) == (4, 180, True)
    assert row.completed_at == first_completed_at
    assert event_types(TOKEN).count("step_completed") == 1
    assert event_types(TOKEN).count("step_progress") == 4
    assert event_types(TOKEN).count("step_started") == 1


def test_session_totals_follow_completed_steps_and_highest_touched_step():
    record_progress(
        session_token=TOKEN, step=StepUpdate(step_number=1, time_spent=60, completed=True)
    )
    record_progress(
        session_token=TOKEN, step=StepUpdate(step_number=2, time_spent=40, completed=True)
    )
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=5, time_spent=999))

    session = WorkshopSession.objects.get(pk=TOKEN)
    assert (session.current_step, session.completion_rate, session.total_time_spent) == (
        5,
        22,
        100,
    )


def test_code_and_url_replace_only_when_given():
    record_progress(
        session_token=TOKEN,
        step=StepUpdate(
            step_number=4, code_submitted="print(1)", deployment_url="https://a.example"
        ),
    )
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=4))
    row = step_row(TOKEN, 4)
    assert (row.code_submitted, row.deployment_url) == ("print(1)", "https://a.example")

    record_progress(
        session_token=TOKEN,
        step=StepUpdate(step_number=4, code_submitted="", deployment_url="https://b.example"),
    )
    row = step_row(TOKEN, 4)
    assert (row.code_submitted, row.deployment_url) == ("", "https://b.example")
    assert event_types(TOKEN).count("deployment_success") == 2


def test_step_name_defaults_to_catalogue_and_is_replaced_when_given():
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=7))
    assert step_row(TOKEN, 7).step_name == "Prompt Engineering"
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=7, step_name="Prompts"))
    assert step_row(TOKEN, 7).step_name == "Prompts"


def test_post_sets_last_activity_and_demo_mode():
    session = WorkshopSessionFactory(
        demo_mode=False, last_activity=timezone.now() - dt.timedelta(hours=3)
    )

    record_progress(session_token=session.pk, demo_mode=True, step=StepUpdate(step_number=1))

    session.refresh_from_db()
    assert session.demo_mode is True
    assert timezone.now() - session.last_activity < dt.timedelta(seconds=5)


def test_new_session_without_email_belongs_to_a_fresh_anonymous_student():
    record_progress(session_token="ws_anon_one", name="Guest")
    record_progress(session_token="ws_anon_two")

    first = WorkshopSession.objects.get(pk="ws_anon_one")
    second = WorkshopSession.objects.get(pk="ws_anon_two")
    assert first.student.is_anonymous
    assert first.student.student_email.endswith(f"@{ANONYMOUS_EMAIL_DOMAIN}")
    assert "ws_anon_one" not in first.student.student_email
    assert first.student.student_name == "Guest"
    assert first.student_id != second.student_id
    assert event_types("ws_anon_one") == ["session_created"]


def test_real_email_claims_anonymous_session_for_a_new_student():
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=1))
    anonymous_id = WorkshopSession.objects.get(pk=TOKEN).student_id

    record_progress(session_token=TOKEN, email="Grace@Example.com", name="Grace")

    grace = Student.objects.get()
    assert (grace.student_email, grace.student_name) == ("grace@example.com", "Grace")
    assert grace.pk != anonymous_id
    assert WorkshopSession.objects.get().student_id == grace.pk
    assert step_row(TOKEN, 1).student_id == grace.pk


def test_real_email_of_existing_student_moves_session_steps_and_events():
    grace = StudentFactory(student_email="grace@example.com")
    record_progress(session_token=TOKEN, step=StepUpdate(step_number=1))
    anonymous_id = WorkshopSession.objects.get(pk=TOKEN).student_id

    record_progress(session_token=TOKEN, email="grace@example.com", step=StepUpdate(step_number=2))

    assert WorkshopSession.objects.get(pk=TOKEN).student_id == grace.pk
    assert set(StepProgress.objects.values_list("student_id", flat=True)) == {grace.pk}
    assert set(Event.objects.values_list("student_id", flat=True)) == {grace.pk}
    assert not Student.objects.filter(pk=anonymous_id).exists()


def test_claim_keeps_anonymous_student_that_still_owns_other_sessions():
    anonymous = StudentFactory(student_email=f"anonymous+k@{ANONYMOUS_EMAIL_DOMAIN}")
    WorkshopSessionFactory(student=anonymous)
    claimed = WorkshopSessionFactory(student=anonymous)
    grace = StudentFactory(student_email="grace@example.com")

    record_progress(session_token=claimed.pk, email="grace@example.com")

    assert WorkshopSession.objects.get(pk=claimed.pk).student_id == grace.pk
    assert anonymous.sessions.count() == 1


def test_token_of_another_student_is_409_and_nothing_changes():
    owner = StudentFactory(student_email="owner@example.com")
    session = WorkshopSessionFactory(student=owner)
    StepProgressFactory(session=session, step_number=1, attempts=1, time_spent=10)
    students_before = Student.objects.count()

    with pytest.raises(ApplicationError) as error:
        record_progress(
            session_token=session.pk,
            email="intruder@example.com",
            step=StepUpdate(step_number=1, time_spent=500, completed=True),
        )

    assert (error.value.status, error.value.message) == (409, SESSION_BELONGS_TO_ANOTHER_STUDENT)
    row = step_row(session.pk, 1)
    assert (row.attempts, row.time_spent, row.validation_passed) == (1, 10, False)
    assert Student.objects.count() == students_before
    assert not Event.objects.exists()


def test_same_email_in_other_case_is_the_owner():
    owner = StudentFactory(student_email="owner@example.com")
    session = WorkshopSessionFactory(student=owner)

    name = owner.student_name

    reply = record_progress(session_token=session.pk, email=" OWNER@example.com", name="New")

    assert WorkshopSession.objects.get(pk=session.pk).student_id == owner.pk
    # An email is a claim: this session did not create the student, the reply hides them.
    assert (reply["student_email"], reply["student_id"]) == ("owner@example.com", None)
    owner.refresh_from_db()
    assert owner.student_name == name  # names are set at creation, never by a claim


@pytest.mark.parametrize(
    "changes",
    [
        {"is_active": False},
        {"expires_at": timezone.now() - dt.timedelta(minutes=1)},
    ],
)
def test_expired_or_inactive_session_refuses_writes_with_410(changes):
    session = WorkshopSessionFactory(**changes)

    with pytest.raises(ApplicationError) as error:
        record_progress(session_token=session.pk, step=StepUpdate(step_number=1))

    assert (error.value.status, error.value.message) == (410, SESSION_CLOSED)
    assert not StepProgress.objects.exists()
    assert not Event.objects.exists()


def test_successful_deployment_sets_the_step_url_and_writes_event():
    session = WorkshopSessionFactory()
    StepProgressFactory(session=session, step_number=9, attempts=3)

    record_deployment(
        session_token=session.pk, step_number=9, url="https://app.example", succeeded=True
    )

    row = step_row(session.pk, 9)
    assert (row.deployment_url, row.attempts) == ("https://app.example", 3)
    event = Event.objects.get()
    assert (event.event_type, event.event_data) == (
        EventType.DEPLOYMENT_SUCCESS,
        {"stepNumber": 9, "url": "https://app.example"},
    )


def test_successful_deployment_of_untouched_step_creates_its_row():
    session = WorkshopSessionFactory()

    record_deployment(
        session_token=session.pk, step_number=4, url="https://app.example", succeeded=True
    )

    row = step_row(session.pk, 4)
    assert (row.deployment_url, row.attempts, row.step_name) == (
        "https://app.example",
        0,
        "Basic TwiML",
    )
    assert WorkshopSession.objects.get(pk=session.pk).current_step == 4


def test_failed_deployment_only_writes_its_event():
    session = WorkshopSessionFactory()

    record_deployment(
        session_token=session.pk,
        step_number=5,
        url="https://app.example",
        succeeded=False,
        error="build failed",
    )

    assert not StepProgress.objects.exists()
    event = Event.objects.get()
    assert (event.event_type, event.event_data["error"]) == (
        EventType.DEPLOYMENT_FAILURE,
        "build failed",
    )


def test_bug_reports_are_appended_with_id_and_timestamp():
    session = WorkshopSessionFactory(bug_reports=[{"id": "old", "description": "earlier"}])
    EventFactory(session=session)

    entry = report_bug(session_token=session.pk, report={"description": "It broke", "step": 3})

    session.refresh_from_db()
    assert [report["id"] for report in session.bug_reports] == ["old", entry["id"]]
    assert session.bug_reports[1]["description"] == "It broke"
    assert dt.datetime.fromisoformat(entry["createdAt"]) <= timezone.now()
    assert Event.objects.filter(event_type=EventType.BUG_REPORTED).get().event_data == {
        "bugReportId": entry["id"],
        "stepNumber": 3,
    }


def test_bug_report_on_unknown_session_is_404():
    with pytest.raises(ApplicationError) as error:
        report_bug(session_token="ws_nobody_here", report={"description": "x"})

    assert (error.value.status, error.value.message) == (404, SESSION_NOT_FOUND)
