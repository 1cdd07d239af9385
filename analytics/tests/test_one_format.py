"""One format for numbers, percentages, durations and dates: the admin's lists show the same
strings as the dashboards for the same data (issue 12, item 5)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import Event, EventType
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

THIN = "\N{THIN SPACE}"


@pytest.fixture
def lead(client, django_user_model):
    # A superuser may use both the admin and every student's dashboard page.
    user = django_user_model.objects.create_superuser("lead", "lead@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def data():
    moment = (timezone.now() - dt.timedelta(days=1)).replace(second=7, microsecond=0)
    session = WorkshopSessionFactory(
        completion_rate=50,
        total_time_spent=3725,
        started_at=moment - dt.timedelta(hours=2),
        last_activity=moment,
    )
    step = StepProgressFactory(
        session=session, step_number=1, attempts=1234, time_spent=3725, started_at=moment
    )
    event = EventFactory(
        session=session,
        event_type=EventType.FEEDBACK_SUBMITTED,
        event_data={"stepNumber": 1, "rating": 5, "feedback": "fine"},
    )
    Event.objects.filter(pk=event.pk).update(created_at=moment)
    return {"session": session, "step": step, "moment": moment}


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_admin_lists_and_dashboard_write_the_same_strings(lead, data):
    number = f"1{THIN}234"
    percent = "50%"
    duration = "1h 02m"
    when = data["moment"].strftime("%Y-%m-%d %H:%M")

    student_id = data["session"].student_id
    dashboard = page(lead, reverse("dashboard:student", args=[student_id]))
    sessions = page(lead, reverse("admin:workshop_workshopsession_changelist"))
    students = page(lead, reverse("admin:workshop_student_changelist"))
    steps = page(lead, reverse("admin:progress_stepprogress_changelist"))
    events = page(lead, reverse("admin:analytics_event_changelist"))

    for text in (number, percent, duration, when):
        assert text in dashboard, text
    assert f"{percent}</span>" in sessions
    assert f'<td class="field-time_spent">{duration}</td>' in sessions
    assert f'<td class="field-last_activity_shown">{when}</td>' in sessions
    assert f'<td class="field-best_completion">{percent}</td>' in students
    assert f'<td class="field-last_active">{when}</td>' in students
    assert f'<td class="field-attempts_shown">{number}</td>' in steps
    assert f'<td class="field-time_spent_shown">{duration}</td>' in steps
    assert f'<td class="field-started_at_shown">{when}</td>' in steps
    assert f">{when}</a></th>" in events


def test_admin_read_only_dates_use_the_same_format(lead, data):
    # Fields Django writes itself (the student's sessions inline, read-only) use it too.
    when = data["moment"].strftime("%Y-%m-%d %H:%M")
    student_id = data["session"].student_id
    change = page(lead, reverse("admin:workshop_student_change", args=[student_id]))
    assert f"<p>{when}</p>" in change


@pytest.mark.parametrize(
    ("changelist", "column", "field"),
    [
        ("workshop_workshopsession", "last_activity_shown", "last_activity"),
        ("workshop_workshopsession", "completion", "completion_rate"),
        ("workshop_workshopsession", "time_spent", "total_time_spent"),
        ("workshop_student", "best_completion", "best_completion_rate"),
        ("workshop_student", "last_active", "last_active_at"),
        ("progress_stepprogress", "attempts_shown", "attempts"),
        ("progress_stepprogress", "time_spent_shown", "time_spent"),
        ("progress_stepprogress", "started_at_shown", "started_at"),
        ("analytics_event", "created_at_shown", "created_at"),
    ],
)
def test_formatted_admin_columns_sort_by_their_fields(lead, data, changelist, column, field):
    url = reverse(f"admin:{changelist}_changelist")
    names = [getattr(name, "__name__", name) for name in lead.get(url).context["cl"].list_display]
    response = lead.get(f"{url}?o=-{names.index(column)}")
    assert response.status_code == 200
    assert response.context["cl"].result_list.query.order_by[0] == f"-{field}"
