"""The admin: columns, masked secrets, actions, CSV, and query counts that do not grow with rows.

(Tests for all three apps' admins live here, next to the dashboards that share their helpers.)
"""

import csv
import datetime as dt
import io

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.models import EventType
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.crypto import encrypt_secret
from workshop.models import WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

SECRET = "sk-live-do-not-show-0123456789"


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(
        username="admin", email="admin@example.com", password="pw"
    )
    client.force_login(admin)
    return client


def populate(n: int) -> None:
    """n students, each with a session with two steps and two events."""
    for i in range(n):
        session = WorkshopSessionFactory(
            completion_rate=11 * (i % 10), openai_api_key=encrypt_secret(SECRET)
        )
        StepProgressFactory(session=session, step_number=1, validation_passed=True)
        StepProgressFactory(session=session, step_number=2)
        EventFactory(session=session, event_data={"stepNumber": 1})
        EventFactory(session=session, event_type=EventType.STEP_COMPLETED)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(context.captured_queries)


# Every changelist: auth session + user (2), the filtered count (1), the page with its
# related rows joined (1); sessions and steps add the unfiltered total (1), steps a distinct
# step_number lookup for their filter (1); events skip the full count.
CHANGELIST_BUDGETS = [
    ("admin:workshop_student_changelist", 5),
    ("admin:workshop_workshopsession_changelist", 5),
    ("admin:progress_stepprogress_changelist", 6),
    ("admin:analytics_event_changelist", 4),
]


@pytest.mark.parametrize(("name", "budget"), CHANGELIST_BUDGETS)
def test_changelist_query_count_does_not_grow_with_rows(
    staff_client, name, budget, django_assert_max_num_queries
):
    populate(2)
    few = queries_for(staff_client, reverse(name))
    populate(10)

    with django_assert_max_num_queries(budget):
        many = queries_for(staff_client, reverse(name))
    assert many == few


SEARCHABLE_CHANGELISTS = [
    "admin:workshop_workshopsession_changelist",
    "admin:progress_stepprogress_changelist",
    "admin:analytics_event_changelist",
]


def _search_fixture():
    """Two students with a session each, a step row and an event per session."""
    ada = WorkshopSessionFactory(
        session_token="ws_alpha_0001", student=StudentFactory(student_email="ada@lovelace.org")
    )
    bob = WorkshopSessionFactory(
        session_token="ws_bravo_0002", student=StudentFactory(student_email="bob@example.com")
    )
    for session in (ada, bob):
        StepProgressFactory(session=session, step_number=1)
        EventFactory(session=session)
    return ada, bob


@pytest.mark.parametrize("name", SEARCHABLE_CHANGELISTS)
@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("LOVELACE", {"ws_alpha_0001"}),  # a substring of the email, any case
        ("bravo_00", {"ws_bravo_0002"}),  # a substring of the token
        ("ws_", {"ws_alpha_0001", "ws_bravo_0002"}),
        ("ws_ example.com", {"ws_bravo_0002"}),  # every term must match
        ("nobody", set()),
    ],
)
def test_search_by_student_email_or_session_token(
    staff_client, name, term, expected, django_assert_max_num_queries
):
    _search_fixture()
    # The changelist's 4 to 6 queries plus one student and one session lookup per term.
    with django_assert_max_num_queries(10):
        response = staff_client.get(reverse(name), {"q": term})
        assert response.status_code == 200
        rows = response.context["cl"].result_list
        assert {getattr(row, "session_id", None) or row.pk for row in rows} == expected


def test_change_pages_query_counts_are_bounded(staff_client, django_assert_max_num_queries):
    populate(2)
    session = WorkshopSession.objects.first()
    for number in range(3, 10):
        StepProgressFactory(session=session, step_number=number)
    for _ in range(5):
        WorkshopSessionFactory(student=session.student)
    event = EventFactory(session=session)
    step = session.steps.first()
    pages = [
        reverse("admin:workshop_student_change", args=[session.student_id]),
        reverse("admin:workshop_workshopsession_change", args=[quote(session.pk)]),
        reverse("admin:progress_stepprogress_change", args=[step.pk]),
        reverse("admin:analytics_event_change", args=[event.pk]),
    ]
    for url in pages:
        # Auth (2), the object with its related rows (1 or 2), the inline rows in one query,
        # the related-object lookups of the read-only form: 6 at most, although the session
        # has nine steps and the student six sessions (one query each, not one per row).
        with django_assert_max_num_queries(6):
            assert staff_client.get(url).status_code == 200


def test_student_list_shows_sessions_best_completion_and_last_active(staff_client):
    ada = StudentFactory(student_email="ada@example.com")
    latest = timezone.now()
    WorkshopSessionFactory(student=ada, completion_rate=33, last_activity=latest)
    WorkshopSessionFactory(student=ada, completion_rate=78, last_activity=latest - dt.timedelta(1))

    response = staff_client.get(reverse("admin:workshop_student_changelist"))

    row = response.context["cl"].result_list[0]
    assert (row.session_count, row.best_completion_rate, row.last_active_at) == (2, 78, latest)
    assert b"78%" in response.content


def test_student_search_by_github_user(staff_client):
    StudentFactory(student_email="ada@example.com", github_username="lovelace")
    StudentFactory(student_email="bob@example.com", github_username="bobby")

    response = staff_client.get(reverse("admin:workshop_student_changelist"), {"q": "lovel"})

    assert [s.student_email for s in response.context["cl"].result_list] == ["ada@example.com"]


def test_session_pages_never_show_the_openai_key(staff_client):
    session = WorkshopSessionFactory(openai_api_key=encrypt_secret(SECRET))
    ciphertext = session.openai_api_key

    change = staff_client.get(
        reverse("admin:workshop_workshopsession_change", args=[quote(session.pk)])
    )
    listing = staff_client.get(reverse("admin:workshop_workshopsession_changelist"))

    for response in (change, listing):
        assert SECRET.encode() not in response.content
        assert ciphertext.encode() not in response.content
    assert b"OpenAI API key" in change.content
    assert b'<div class="readonly">set</div>' in change.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"completion": "100"}, {"done"}),
        ({"completion": "1-49"}, {"early"}),
        ({"current_step": "4"}, {"early"}),
        ({"expired": "yes"}, {"expired"}),
        ({"demo_mode__exact": "1"}, {"demo"}),
        ({"is_active__exact": "0"}, {"inactive"}),
    ],
)
def test_session_filters(staff_client, query, expected):
    past = timezone.now() - dt.timedelta(hours=1)
    WorkshopSessionFactory(session_token="done", completion_rate=100, current_step=9)
    WorkshopSessionFactory(session_token="early", completion_rate=33, current_step=4)
    WorkshopSessionFactory(session_token="expired", completion_rate=55, expires_at=past)
    WorkshopSessionFactory(session_token="demo", completion_rate=55, demo_mode=True)
    WorkshopSessionFactory(session_token="inactive", completion_rate=55, is_active=False)

    response = staff_client.get(reverse("admin:workshop_workshopsession_changelist"), query)

    assert {s.session_token for s in response.context["cl"].result_list} == expected


def run_action(client, action: str, sessions):
    return client.post(
        reverse("admin:workshop_workshopsession_changelist"),
        {"action": action, "_selected_action": [s.pk for s in sessions]},
    )


def test_recalculate_action_updates_totals_from_steps(staff_client):
    session = WorkshopSessionFactory(completion_rate=0, total_time_spent=0)
    StepProgressFactory(session=session, step_number=1, validation_passed=True, time_spent=60)
    StepProgressFactory(session=session, step_number=2, validation_passed=True, time_spent=30)
    untouched = WorkshopSessionFactory(completion_rate=0)
    StepProgressFactory(session=untouched, step_number=1, validation_passed=True)

    response = run_action(staff_client, "recalculate_progress", [session])

    assert response.status_code == 302
    session.refresh_from_db()
    untouched.refresh_from_db()
    assert (session.completion_rate, session.total_time_spent, session.current_step) == (22, 90, 2)
    assert untouched.completion_rate == 0


def test_deactivate_action(staff_client):
    chosen, other = WorkshopSessionFactory(), WorkshopSessionFactory()

    run_action(staff_client, "deactivate", [chosen])

    assert WorkshopSession.objects.get(pk=chosen.pk).is_active is False
    assert WorkshopSession.objects.get(pk=other.pk).is_active is True


def test_extend_action_adds_24_hours_counting_from_now_when_expired(staff_client):
    now = timezone.now()
    live = WorkshopSessionFactory(expires_at=now + dt.timedelta(hours=2))
    expired = WorkshopSessionFactory(expires_at=now - dt.timedelta(days=3))

    run_action(staff_client, "extend_expiry", [live, expired])

    live.refresh_from_db()
    expired.refresh_from_db()
    assert live.expires_at == now + dt.timedelta(hours=26)
    after = timezone.now()
    assert now + dt.timedelta(hours=24) <= expired.expires_at <= after + dt.timedelta(hours=24)


def test_export_csv_action_streams_selected_sessions_without_secrets(staff_client):
    student = StudentFactory(student_email="eve@example.com", student_name="=HYPERLINK(1)")
    session = WorkshopSessionFactory(
        student=student, completion_rate=44, openai_api_key=encrypt_secret(SECRET)
    )
    WorkshopSessionFactory()

    response = run_action(staff_client, "export_csv", [session])

    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["session_token", "student_email", "student_name"]
    assert len(rows) == 2
    assert rows[1][:3] == [session.session_token, "eve@example.com", "'=HYPERLINK(1)"]
    assert rows[1][9] == "44"
    assert SECRET not in body
    assert session.openai_api_key not in body


def test_events_and_steps_are_read_only_with_pretty_data(staff_client):
    event = EventFactory(event_data={"stepNumber": 3, "note": "<b>hi</b>"})
    step = StepProgressFactory()

    page = staff_client.get(reverse("admin:analytics_event_change", args=[event.pk]))

    assert b"&quot;stepNumber&quot;: 3" in page.content
    assert b"&lt;b&gt;hi&lt;/b&gt;" in page.content
    assert staff_client.get(reverse("admin:analytics_event_add")).status_code == 403
    assert staff_client.get(reverse("admin:progress_stepprogress_add")).status_code == 403
    post = staff_client.post(
        reverse("admin:progress_stepprogress_change", args=[step.pk]), {"attempts": 99}
    )
    assert post.status_code == 403
