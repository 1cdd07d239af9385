"""Bug reports are capped per session and in size (issue 11): a clear 400 naming the field,
nothing written; and pages that do not show a session's large JSON never load it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def report(api, session, **body):
    body = {"description": "It broke", **body}
    return api.post(f"/api/sessions/{session.pk}/bug-reports", body, format="json")


def test_the_defaults_are_sane(settings):
    assert settings.BUG_REPORTS_PER_SESSION == 20
    assert settings.BUG_REPORT_MAX_BYTES == 8 * 1024


def test_reports_beyond_the_cap_are_400_and_change_nothing(api, settings):
    settings.BUG_REPORTS_PER_SESSION = 3
    session = WorkshopSessionFactory(bug_reports=[])
    for _ in range(3):
        assert report(api, session).status_code == 201

    response = report(api, session)

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "bugReports": ["This session already has 3 bug reports, the most it may have."]
    }
    assert len(WorkshopSession.objects.get(pk=session.pk).bug_reports) == 3


def test_a_report_over_the_size_limit_is_400_naming_its_largest_field(api, settings):
    settings.BUG_REPORT_MAX_BYTES = 1000
    session = WorkshopSessionFactory(bug_reports=[])

    response = report(api, session, description="d" * 300, actualBehavior="a" * 900)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["actualBehavior"]
    assert "1000 bytes" in response.json()["fields"]["actualBehavior"][0]
    assert WorkshopSession.objects.get(pk=session.pk).bug_reports == []


def test_a_report_just_under_the_limit_is_kept(api, settings):
    settings.BUG_REPORT_MAX_BYTES = 1000
    session = WorkshopSessionFactory(bug_reports=[])

    assert report(api, session, description="d" * 800).status_code == 201


LARGE = ("bug_reports", "tools", "voice_settings", "code_submitted")


def selected_large_columns(queries) -> set[str]:
    """Large JSON/text columns a query reads as such (not inside a function such as
    JSONB_ARRAY_LENGTH(...), which reads only a number)."""
    found = set()
    for query in queries:
        sql = query["sql"]
        for column in LARGE:
            for marker in (f'."{column}"', f".{column}"):
                start = sql.find(marker)
                while start != -1:
                    before = sql[:start].rstrip()
                    # The table reference before the dot, then what precedes it.
                    table_start = max(before.rfind(" "), before.rfind(","), before.rfind("("))
                    if sql[table_start] != "(":
                        found.add(column)
                    start = sql.find(marker, start + 1)
    return found


@pytest.fixture
def heavy_session(settings):
    reports = [{"description": "x" * 4000, "id": str(n)} for n in range(20)]
    session = WorkshopSessionFactory(
        bug_reports=reports, tools=[{"name": "t" * 2000}], voice_settings={"v": "x" * 2000}
    )
    StepProgressFactory(session=session, step_number=1, code_submitted="c" * 50_000)
    EventFactory(session=session, student=session.student)
    return session


@pytest.mark.parametrize(
    "name",
    [
        "dashboard:overview",
        "dashboard:overview-live",
        "dashboard:funnel",
        "dashboard:stuck",
        "dashboard:stuck-csv",
        "dashboard:students",
        "dashboard:students-csv",
        "admin:workshop_workshopsession_changelist",
        "admin:analytics_event_changelist",
        "admin:progress_stepprogress_changelist",
    ],
)
def test_pages_that_do_not_show_large_json_never_read_it(
    client, django_user_model, heavy_session, name
):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    url = reverse(name)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"threshold": "15m"} if "stuck" in name else {})

    assert response.status_code == 200
    assert selected_large_columns(queries.captured_queries) == set()


def test_funnel_step_list_does_not_read_large_json(client, lead_instructor, heavy_session):
    client.force_login(lead_instructor)
    url = reverse("dashboard:funnel-step", args=[1, "started"])

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)

    assert response.status_code == 200
    assert str(heavy_session.student) in response.content.decode()
    assert selected_large_columns(queries.captured_queries) == set()


def test_the_student_page_reads_only_the_bug_reports_it_shows(
    client, lead_instructor, heavy_session
):
    client.force_login(lead_instructor)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("dashboard:student", args=[heavy_session.student_id]))

    assert response.status_code == 200
    assert response.content.decode().count("x" * 4000) == 20
    assert selected_large_columns(queries.captured_queries) == {"bug_reports"}


# --- one field set for both calls: the spec's bug-reports and the frontend's report-bug ---------
def frontend_report(api, session, **body):
    body = {"sessionToken": session.pk, "description": "It broke", **body}
    return api.post("/api/report-bug", body, format="json")


@pytest.mark.parametrize(
    "body",
    [
        {"description": None},
        {"description": ""},
        {"description": 5},
        {"description": "x" * 5_001},
        {"errorMessage": "x" * 5_001},
        {"expectedBehavior": ["a list"]},
        {"actualBehavior": "x" * 5_001},
        {"browserInfo": "x" * 1_001},
        {"pageUrl": "javascript:alert(1)"},
        {"pageUrl": 7},
    ],
)
def test_both_calls_give_the_same_messages_for_the_same_fields(api, body):
    session = WorkshopSessionFactory(bug_reports=[])

    spec = report(api, session, **body)
    frontend = frontend_report(api, session, **body)

    assert (spec.status_code, frontend.status_code) == (400, 400)
    assert spec.json() == frontend.json()
    assert WorkshopSession.objects.get(pk=session.pk).bug_reports == []


def test_the_frontends_report_has_the_same_size_limit(api, settings):
    settings.BUG_REPORT_MAX_BYTES = 1000
    session = WorkshopSessionFactory(bug_reports=[])

    response = frontend_report(api, session, description="d" * 300, actualBehavior="a" * 900)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["actualBehavior"]
    assert "at most 1000 bytes are kept" in response.json()["fields"]["actualBehavior"][0]
    assert WorkshopSession.objects.get(pk=session.pk).bug_reports == []
