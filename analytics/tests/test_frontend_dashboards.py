"""What instructors see of the real frontend's feedback, bug reports and session logs: the
ratings on the funnel and the overview, reports without a session on the overview, a
student's feedback and log on their page, students' text escaped everywhere."""

import pytest
from rest_framework.test import APIClient

from progress.tests import frontend_requests as fe
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'
TOKEN = "ws_dashboard_frontend_1"


@pytest.fixture
def staff(client, django_user_model):
    # A superuser: these sessions belong to no workshop run, which only superusers see.
    lead = django_user_model.objects.create_superuser("lead", "lead@example.com", "pw")
    client.force_login(lead)
    return client


@pytest.fixture
def frontend():
    client = APIClient()

    def send(path: str, body: dict) -> None:
        assert client.post(path, body, format="json").status_code == 200

    return send


def test_funnel_shows_the_ratings_given_on_each_step(staff, frontend):
    for rating in (4, 5):
        frontend("/api/submit-feedback", fe.submit_feedback(6, rating=rating))
    frontend("/api/submit-feedback", fe.submit_feedback(2, rating=2))
    frontend("/api/submit-feedback", fe.submit_feedback(2, rating=0))

    page = staff.get("/dashboard/funnel/").content.decode()

    rows = page.split('<tr data-step="')
    assert '4.5 ★ <span class="muted">(2)</span>' in rows[7]
    assert '2.0 ★ <span class="muted">(1)</span>' in rows[3]
    assert "all steps: 3.7 ★ from 3" in page


def test_overview_shows_feedback_and_bug_reports_without_a_session_escaped(staff, frontend):
    frontend(
        "/api/submit-feedback",
        {**fe.submit_feedback(8, rating=5), "message": f"Loved it {XSS}", "name": XSS},
    )
    frontend("/api/report-bug", {**fe.report_bug(None, 3), "description": f"Broken {XSS}"})

    page = staff.get("/dashboard/").content.decode()

    assert "Feedback: 5.0 ★ from 1 ratings" in page
    assert "Loved it &lt;script&gt;" in page
    assert "Broken &lt;script&gt;" in page
    assert XSS not in page


def test_student_page_shows_their_feedback_and_session_log(staff, frontend):
    session = WorkshopSessionFactory(session_token=TOKEN)
    frontend(
        "/api/submit-feedback",
        {**fe.submit_feedback(4, rating=3), "sessionToken": TOKEN, "message": XSS},
    )
    frontend("/api/session-log", fe.session_log(TOKEN, 4, "error", errorMessage=XSS))

    page = staff.get(f"/dashboard/students/{session.student_id}/").content.decode()

    assert "Feedback (1)" in page
    assert "3 ★" in page
    assert "tag-session_log" in page
    assert "tag-feedback_submitted" in page
    assert "&lt;script&gt;" in page
    assert XSS not in page
