"""The dashboard pages: staff only, bounded queries, escaped text, CSV exports, bad input."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.models import EventType
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


@pytest.fixture
def staff(client, django_user_model):
    # A superuser: these sessions belong to no workshop run, which only superusers see
    # (instructors' scoping by run: test_run_scoping.py).
    lead = django_user_model.objects.create_superuser("lead", "lead@example.com", "pw")
    client.force_login(lead)
    return client


def populate(n: int) -> list:
    """n students with an idle session each (stuck at 24 h), three steps and events."""
    sessions = []
    for i in range(n):
        session = WorkshopSessionFactory(
            current_step=3,
            completion_rate=22,
            last_activity=timezone.now() - dt.timedelta(days=2),
            bug_reports=[{"description": "it broke"}],
            demo_mode=i % 2 == 0,
        )
        StepProgressFactory(session=session, step_number=1, validation_passed=True, time_spent=i)
        StepProgressFactory(session=session, step_number=2, validation_passed=True, time_spent=9)
        StepProgressFactory(session=session, step_number=3, attempts=3)
        EventFactory(session=session, event_data={"stepNumber": 3})
        EventFactory(
            session=session,
            event_type=EventType.DEPLOYMENT_FAILURE,
            event_data={"stepNumber": 3, "error": "build failed"},
        )
        sessions.append(session)
    return sessions


def page_urls(student_id) -> list[str]:
    return [
        reverse("dashboard:overview"),
        reverse("dashboard:overview-live"),
        reverse("dashboard:funnel"),
        reverse("dashboard:funnel-csv"),
        reverse("dashboard:funnel-step", args=[2, "completed"]),
        reverse("dashboard:stuck"),
        reverse("dashboard:stuck-csv"),
        reverse("dashboard:students"),
        reverse("dashboard:students-csv"),
        reverse("dashboard:student", args=[student_id]),
    ]


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    student = StudentFactory()
    for url in page_urls(student.student_id):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_logged_in_non_staff_users_are_sent_to_the_login_too(client, django_user_model):
    user = django_user_model.objects.create_user(username="student", password="pw")
    client.force_login(user)

    response = client.get(reverse("dashboard:funnel"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# Per page, with filters applied: auth session + user (2), the runs the user may pick (1)
# and the page's selectors.
# overview: totals, per-step counts, stuck page, stuck count, latest events (5);
# funnel: one GROUP BY (+1 median query on SQLite); funnel step: count + page;
# stuck and students: count + page; CSVs: one query; student: the student, sessions,
# their steps, events (4).
PAGE_BUDGETS = {
    # overview: the live part's 8, the feedback ratings and the latest feedback (2).
    "overview": 10,
    "overview-live": 8,
    # funnel: the feedback ratings per step (1 more).
    "funnel": 6,
    "funnel-csv": 5,
    "funnel-step": 5,
    "stuck": 5,
    "stuck-csv": 4,
    "students": 5,
    "students-csv": 4,
    # student: the feedback the student gave (1 more).
    "student": 8,
}


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, {"start": "2000-01-01", "demo": "include"})
        assert response.status_code == 200, url
        body(response)
    return len(context.captured_queries)


def test_every_page_runs_a_bounded_number_of_queries(staff, django_assert_max_num_queries):
    first = populate(2)[0]
    urls = dict(zip(PAGE_BUDGETS, page_urls(first.student_id), strict=True))
    few = {name: count_queries(staff, url) for name, url in urls.items()}
    populate(12)
    for _ in range(5):
        more = WorkshopSessionFactory(student=first.student)
        StepProgressFactory(session=more, step_number=1)

    for name, url in urls.items():
        with django_assert_max_num_queries(PAGE_BUDGETS[name]):
            many = count_queries(staff, url)
        assert many == few[name], name


def test_student_text_is_escaped_everywhere(staff):
    student = StudentFactory(student_name=XSS, github_username=XSS)
    session = WorkshopSessionFactory(
        student=student,
        current_step=1,
        last_activity=timezone.now() - dt.timedelta(days=2),
        bug_reports=[{"description": XSS}],
    )
    StepProgressFactory(session=session, step_number=1, deployment_url=XSS)
    EventFactory(session=session, event_data={"note": XSS})

    for url in page_urls(student.student_id):
        if url.endswith(".csv"):
            continue
        text = body(staff.get(url))
        assert XSS not in text, url
    student_page = body(staff.get(reverse("dashboard:student", args=[student.student_id])))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in student_page


def test_bad_filters_get_a_400_naming_the_field(staff):
    response = staff.get(reverse("dashboard:funnel"), {"start": "yesterday"})
    assert response.status_code == 400
    assert "Sessions started from" in body(response)

    response = staff.get(reverse("dashboard:stuck"), {"threshold": "7d"})
    assert response.status_code == 400
    assert "Flag as stuck when" in body(response)

    response = staff.get(
        reverse("dashboard:students"), {"start": "2026-02-02", "end": "2026-02-01"}
    )
    assert response.status_code == 400
    assert "The end date must not be before the start date." in body(response)


def test_unknown_funnel_counts_and_students_are_404(staff):
    assert staff.get(reverse("dashboard:funnel-step", args=[10, "started"])).status_code == 404
    assert staff.get(reverse("dashboard:funnel-step", args=[1, "bogus"])).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert staff.get(reverse("dashboard:student", args=[missing])).status_code == 404


def test_funnel_page_links_each_count_to_its_sessions(staff):
    populate(3)

    page = body(staff.get(reverse("dashboard:funnel"), {"demo": "exclude"}))
    rows = body(
        staff.get(reverse("dashboard:funnel-step", args=[1, "completed"]), {"demo": "exclude"})
    )

    link = reverse("dashboard:funnel-step", args=[1, "completed"]) + "?demo=exclude"
    assert f'href="{link}">1</a>' in page
    assert '<span id="row-count">1</span>' in rows


def test_funnel_csv(staff):
    populate(2)

    rows = list(csv.reader(io.StringIO(body(staff.get(reverse("dashboard:funnel-csv"))))))

    assert rows[0][:4] == ["step_number", "step_name", "started", "completed"]
    assert rows[1] == ["1", "Setup", "2", "2", "100.0", "100.0", "0", "0.0", "0.5", "0.5"]
    assert rows[3][:4] == ["3", "Services", "2", "0"]
    assert len(rows) == 10


def test_stuck_page_threshold_and_reasons(staff):
    session = populate(1)[0]
    recent = WorkshopSessionFactory(
        current_step=1, last_activity=timezone.now() - dt.timedelta(minutes=30)
    )

    default = body(staff.get(reverse("dashboard:stuck")))
    quarter = body(staff.get(reverse("dashboard:stuck"), {"threshold": "15m"}))

    assert '<span id="row-count">1</span>' in default
    assert session.session_token in default
    assert recent.session_token not in default
    assert '<span id="row-count">2</span>' in quarter
    assert "3 attempts on step 3" in default
    assert "1 failed deployment, the last at step 3<" in default
    assert "1 bug report<" in default


def test_stuck_csv_escapes_formulas(staff):
    student = StudentFactory(student_email="x@example.com", student_name="@SUM(A1)")
    WorkshopSessionFactory(
        student=student, current_step=2, last_activity=timezone.now() - dt.timedelta(days=3)
    )

    rows = list(csv.reader(io.StringIO(body(staff.get(reverse("dashboard:stuck-csv"))))))

    assert rows[1][:2] == ["x@example.com", "'@SUM(A1)"]
    assert rows[1][3] == "2"
    assert int(rows[1][5]) >= 3 * 24 * 60


def test_students_csv_escapes_formula_injection(staff):
    for name in ["=cmd|' /C calc'!A0", "+1", "-2", "@x", "plain"]:
        StudentFactory(student_name=name)

    rows = list(csv.reader(io.StringIO(body(staff.get(reverse("dashboard:students-csv"))))))

    names = sorted(row[2] for row in rows[1:])
    assert names == ["'+1", "'-2", "'=cmd|' /C calc'!A0", "'@x", "plain"]


def test_students_page_searches_sorts_and_paginates(staff):
    for i in range(55):
        StudentFactory(student_email=f"s{i:02d}@example.com")
    StudentFactory(student_email="zed@example.com", github_username="zorro")

    first = staff.get(reverse("dashboard:students"), {"sort": "email"})
    second = staff.get(reverse("dashboard:students"), {"sort": "email", "page": 2})
    search = staff.get(reverse("dashboard:students"), {"q": "ZORRO"})

    assert [s.student_email for s in first.context["page_obj"]][:2] == [
        "s00@example.com",
        "s01@example.com",
    ]
    assert len(first.context["page_obj"]) == 50
    assert [s.student_email for s in second.context["page_obj"]][-1] == "zed@example.com"
    assert [s.student_email for s in search.context["page_obj"]] == ["zed@example.com"]
    assert "?sort=-email" in body(first)


def test_overview_shows_totals_and_refresh_settings(staff):
    populate(2)

    page = body(staff.get(reverse("dashboard:overview"), {"refresh": "2"}))
    live = body(staff.get(reverse("dashboard:overview-live")))

    assert 'data-refresh-seconds="2"' in page
    assert 'data-live-url="/dashboard/live/"' in page
    assert '<span class="value" data-total="students">2</span>' in live
    assert '<td class="num" data-occupancy="3">2</td>' in live
    assert '<span data-total="stuck">2</span>' in live
    assert "<html" not in live
