"""The dashboards in a real browser: Playwright driving Debian's Chromium against live_server.

Skipped, with the reason, when /usr/bin/chromium or Playwright is missing (install Chromium
with `apt-get install chromium`; never `playwright install`). Each page is photographed as it
is checked: into docs/screenshots/ (the README's pictures) with `UPDATE_SCREENSHOTS=1`, else
into a scratch folder, so an ordinary test run leaves the work tree unchanged.
"""

import datetime as dt
import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from analytics.events import record_event
from analytics.models import Event, EventType
from progress.models import StepProgress
from progress.tests.factories import StepProgressFactory
from progress.totals import recalculate_session
from workshop.models import Student, WorkshopRun, WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = (
    Path(settings.BASE_DIR) / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "workshop-progress-screenshots"
)
TIMEOUT_MS = 10_000

playwright_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (pip install -r requirements-dev.txt)",
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"{CHROMIUM} is missing: apt-get install chromium (browser tests skipped)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an asyncio loop on this thread between calls, which makes
    # Django refuse ORM calls from the test body; the test thread never runs async code
    # itself, so allow them while the browser is up, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def post_progress(live_server, body: dict) -> None:
    """POST /api/student-progress as the workshop frontend does (no login, JSON)."""
    request = urllib.request.Request(
        f"{live_server.url}/api/student-progress",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def log_in(page, live_server, next_path: str = "/dashboard/") -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", "instructor")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def seed_workshop() -> None:
    """A small live workshop: students spread over the steps, a few idle, one demo; all in
    one run in progress, which the `instructor` user is assigned to."""
    now = timezone.now()
    run = WorkshopRun.objects.create(
        name="Browser run",
        starts_at=now - dt.timedelta(hours=4),
        ends_at=now + dt.timedelta(hours=1),
    )
    run.instructors.add(*User.objects.filter(username="instructor"))
    people = [
        ("ada@example.com", "Ada Lovelace", 9, 5),
        ("grace@example.com", "Grace Hopper", 6, 10),
        ("alan@example.com", "Alan Turing", 4, 30),
        ("edsger@example.com", "Edsger Dijkstra", 3, 200),
        ("barbara@example.com", "Barbara Liskov", 3, 2),
        ("ken@example.com", "Ken Thompson", 2, 1500),
        ("margaret@example.com", "Margaret Hamilton", 1, 3),
        ("linus@example.com", "Linus Torvalds", 5, 90),
    ]
    for index, (email, name, reached, idle_minutes) in enumerate(people):
        student = StudentFactory(student_email=email, student_name=name)
        session = WorkshopSessionFactory(
            student=student,
            started_at=now - dt.timedelta(hours=3),
            bug_reports=[{"description": "audio drops"}] if index == 3 else [],
        )
        for number in range(1, reached + 1):
            # Everyone completed the steps before the one they are on; ada finished all.
            passed = number < reached or reached == 9
            StepProgressFactory(
                session=session,
                step_number=number,
                validation_passed=passed,
                completed_at=now if passed else None,
                time_spent=60 * number + 7 * index,
                attempts=1 + (index + number) % 3,
            )
            record_event(
                event_type=EventType.STEP_COMPLETED if passed else EventType.STEP_PROGRESS,
                student_id=student.student_id,
                session_token=session.session_token,
                data={"stepNumber": number},
            )
        if index == 5:
            record_event(
                event_type=EventType.DEPLOYMENT_FAILURE,
                student_id=student.student_id,
                session_token=session.session_token,
                data={"stepNumber": 2, "error": "build failed"},
            )
        recalculate_session(session_token=session.session_token)
        WorkshopSession.objects.filter(pk=session.pk).update(
            last_activity=now - dt.timedelta(minutes=idle_minutes)
        )
    demo = WorkshopSessionFactory(
        student=StudentFactory(student_email="demo@example.com", student_name="Demo"),
        demo_mode=True,
        current_step=1,
    )
    StepProgressFactory(session=demo, step_number=1)


def cell(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def test_anonymous_visitor_is_sent_to_the_login_page(page, live_server):
    page.goto(f"{live_server.url}/dashboard/funnel/")

    assert page.url == f"{live_server.url}/admin/login/?next=/dashboard/funnel/"
    assert page.locator("#id_username").is_visible()
    shoot(page, "login")


def test_every_page_shows_the_database_numbers(page, live_server, instructor):
    seed_workshop()
    log_in(page, live_server)

    # Overview
    page.wait_for_selector("#live")
    assert cell(page, "[data-total=students]") == str(Student.objects.count())
    active_unfinished = WorkshopSession.objects.active().exclude(completion_rate=100)
    assert cell(page, "[data-occupancy='3']") == str(
        active_unfinished.filter(current_step=3).count()
    )
    assert cell(page, "[data-total=completed]") == "1"
    assert page.locator("table.events tbody tr").count() == min(20, Event.objects.count())
    shoot(page, "overview")

    # Funnel: each count is the database's, and following one lists exactly those sessions.
    page.click("nav a[href='/dashboard/funnel/']")
    page.wait_for_url("**/dashboard/funnel/")
    for number in (1, 3, 9):
        rows = StepProgress.objects.filter(step_number=number)
        row = page.locator(f"table.funnel tr[data-step='{number}']")
        assert row.locator("[data-count=started]").inner_text() == str(rows.count())
        assert row.locator("[data-count=completed]").inner_text() == str(
            rows.filter(validation_passed=True).count()
        )
    assert page.locator("svg rect.started").count() == 9
    shoot(page, "funnel")
    page.locator("table.funnel tr[data-step='3'] [data-count=started]").click()
    page.wait_for_url("**/dashboard/funnel/3/started/")
    started_three = StepProgress.objects.filter(step_number=3).count()
    assert cell(page, "#row-count") == str(started_three)
    assert page.locator("main table tbody tr").count() == started_three
    shoot(page, "funnel-step")

    # Stuck: 24 h by default (only ken, idle 25 h), then 15 minutes.
    page.click("nav a[href='/dashboard/stuck/']")
    page.wait_for_url("**/dashboard/stuck/")
    assert cell(page, "#row-count") == "1"
    page.select_option("#threshold", "15m")
    page.wait_for_url("**/dashboard/stuck/?*threshold=15m*")
    # edsger (200 min, step 3), ken (1500 min, step 2, a failed deployment), alan (30 min),
    # linus (90 min); ada finished, the others were active within 15 minutes.
    assert cell(page, "#row-count") == "4"
    first = page.locator("table.stuck tbody tr").first
    assert "Ken Thompson" in first.inner_text()
    assert "1 failed deployment" in first.inner_text()
    assert "1 bug report" in page.locator("table.stuck").inner_text()
    shoot(page, "stuck")

    # Students: the summary, searchable.
    page.click("nav a[href='/dashboard/students/']")
    page.wait_for_url("**/dashboard/students/")
    assert cell(page, "#row-count") == str(Student.objects.count())
    page.fill("input[name=q]", "hopper")
    page.click("form#filters button[type=submit]")
    page.wait_for_url("**/dashboard/students/?*q=hopper*")
    assert cell(page, "#row-count") == "1"
    shoot(page, "students")

    # One student: nine steps per session, events.
    page.click("text=grace@example.com")
    page.wait_for_url("**/dashboard/students/*/")
    assert page.locator("table.steps tbody tr").count() == 9
    assert page.locator("table.steps tr.passed").count() == 5
    grace_events = Event.objects.filter(student__student_email="grace@example.com").count()
    assert page.locator("table.events tbody tr").count() == grace_events
    shoot(page, "student")

    # The admin's sessions list, for the README (instructors get the admin permissions).
    instructor.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["workshop", "progress"])
    )
    page.set_viewport_size({"width": 1600, "height": 800})
    page.goto(f"{live_server.url}/admin/workshop/workshopsession/")
    assert page.locator("#result_list tbody tr").count() == WorkshopSession.objects.count()
    shoot(page, "admin-sessions")


def test_overview_refreshes_in_place_after_progress(page, live_server, instructor):
    seed_workshop()
    page.set_viewport_size({"width": 1280, "height": 500})
    log_in(page, live_server, next_path="/dashboard/?refresh=1")
    page.evaluate("window.notReloaded = true")
    page.evaluate("window.scrollTo(0, 300)")
    before = cell(page, "[data-occupancy='4']")
    stamp = page.locator("#last-refreshed").get_attribute("datetime")

    # The workshop frontend reports progress: barbara passes step 3 and starts step 4.
    session = WorkshopSession.objects.get(student__student_email="barbara@example.com")
    for update in ({"stepNumber": 3, "completed": True}, {"stepNumber": 4, "timeSpent": 5}):
        post_progress(
            live_server,
            {
                "sessionToken": session.session_token,
                "studentEmail": "barbara@example.com",
                **update,
            },
        )
    event = Event.objects.filter(session=session, event_type=EventType.STEP_STARTED).latest("id")
    assert event.step_number == 4

    page.wait_for_selector(f"[data-event-id='{event.id}']")
    assert cell(page, "[data-occupancy='4']") == str(int(before) + 1)
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("window.scrollY") == 300
    assert page.locator("#last-refreshed").get_attribute("datetime") != stamp
