"""The cockpit of a live run: the help queue (rows, signals, actions), the class grid, and
the scoping of every dashboard page and CSV by run."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.dashboards import help_queue as queue
from analytics.dashboards.selectors import DashboardFilters
from analytics.models import EventType, HelpQueueState
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.models import RunRosterEntry, WorkshopRun, WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


@pytest.fixture
def run(instructor):
    now = timezone.now()
    run = WorkshopRun.objects.create(
        name="Live run",
        starts_at=now - dt.timedelta(hours=2),
        ends_at=now + dt.timedelta(hours=2),
        location="https://meet.example.com/room",
    )
    run.instructors.add(instructor)
    return run


@pytest.fixture
def other_run():
    now = timezone.now()
    return WorkshopRun.objects.create(
        name="Other run",
        starts_at=now - dt.timedelta(days=3),
        ends_at=now - dt.timedelta(days=3) + dt.timedelta(hours=3),
    )


def stalled(minutes: float, *, step: int = 3, **kwargs) -> WorkshopSession:
    """A session of the live run, idle `minutes` on an unfinished `step`."""
    now = timezone.now()
    session = WorkshopSessionFactory(
        started_at=now - dt.timedelta(hours=1),
        last_activity=now - dt.timedelta(minutes=minutes),
        current_step=step,
        completion_rate=round(100 * (step - 1) / 9),
        **kwargs,
    )
    StepProgressFactory(session=session, step_number=step, attempts=4, time_spent=300)
    return session


def in_queue(threshold_minutes: int = 10) -> list[str]:
    rows = queue.help_queue(
        DashboardFilters(run=WorkshopRun.objects.get(name="Live run")),
        threshold=dt.timedelta(minutes=threshold_minutes),
    )
    return [row.session.session_token for row in rows]


# ---------------------------------------------------------------------------------------
# Help queue
# ---------------------------------------------------------------------------------------
def test_the_queue_lists_stalled_students_most_recent_stall_first(run):
    old, recent, active = stalled(50), stalled(12), stalled(2)
    done = stalled(30)
    StepProgressFactory(session=done, step_number=4, validation_passed=True)
    WorkshopSession.objects.filter(pk=done.pk).update(current_step=4)
    assert in_queue() == [recent.pk, old.pk]
    assert in_queue(threshold_minutes=60) == []
    assert in_queue(threshold_minutes=1) == [active.pk, recent.pk, old.pk]


def test_sessions_of_other_runs_are_not_in_the_queue(run, other_run):
    mine = stalled(20)
    elsewhere = WorkshopSessionFactory(
        started_at=other_run.starts_at + dt.timedelta(minutes=5),
        last_activity=timezone.now() - dt.timedelta(minutes=20),
        current_step=2,
    )
    assert in_queue() == [mine.pk]
    assert elsewhere.pk not in in_queue()


def test_signals_are_shown_inline(run):
    session = stalled(15, bug_reports=[{"id": "r1", "description": "Twilio says 11200"}])
    EventFactory(
        session=session,
        event_type=EventType.DEPLOYMENT_FAILURE,
        event_data={"stepNumber": 3, "error": "Build failed: npm ERR!"},
    )
    EventFactory(
        session=session,
        event_type="session_log",
        event_data={"stepNumber": 3, "logType": "error", "data": {"message": "WebSocket closed"}},
    )
    (row,) = queue.help_queue(DashboardFilters(run=run))
    assert row.attempts == 4
    assert row.time_on_step == 300
    assert row.failure_text.startswith("step 3 (")
    assert row.failure_text.endswith(": Build failed: npm ERR!")
    assert row.log_error_text == "WebSocket closed"
    assert row.open_report_texts == [("r1", "Twilio says 11200")]


def test_an_open_bug_report_puts_an_active_student_in_the_queue(run):
    busy = stalled(1, bug_reports=[{"id": "r1", "description": "help"}])
    closed = stalled(1, bug_reports=[{"id": "r2", "description": "x", "status": "closed"}])
    assert in_queue() == [busy.pk]
    assert closed.pk not in in_queue()


def test_claim_shows_who_and_resolve_hides_until_a_new_signal(client, run, instructor):
    session = stalled(20)
    client.force_login(instructor)
    page = reverse("dashboard:help-queue")
    reply = client.post(
        reverse("dashboard:help-claim", args=[session.pk]), {"next": page + "?idle=10"}
    )
    assert reply.status_code == 302
    assert reply["Location"] == page + "?idle=10"
    assert HelpQueueState.objects.get(session=session).claimed_by == instructor
    assert "instructor is on it" in body(client.get(reverse("dashboard:help-queue-live")))

    client.post(reverse("dashboard:help-resolve", args=[session.pk]))
    state = HelpQueueState.objects.get(session=session)
    assert (state.resolved_by, state.claimed_by) == (instructor, None)
    assert in_queue() == []

    # A new bug report after the resolve is a new signal.
    EventFactory(session=session, event_type=EventType.BUG_REPORTED, created_at=timezone.now())
    assert in_queue() == [session.pk]


def test_new_activity_after_resolve_brings_a_new_stall_back(run, instructor):
    from analytics.help_queue_services import resolve_session

    session = stalled(20)
    resolve_session(session=session, user=instructor)
    assert in_queue() == []
    # The student moved on, then stalled again.
    WorkshopSession.objects.filter(pk=session.pk).update(
        last_activity=timezone.now() - dt.timedelta(minutes=11)
    )
    HelpQueueState.objects.filter(pk=session.pk).update(
        resolved_at=timezone.now() - dt.timedelta(minutes=30)
    )
    assert in_queue() == [session.pk]


def test_closing_a_bug_report_marks_the_entry_and_keeps_the_others(client, run, instructor):
    session = stalled(
        20,
        bug_reports=[{"id": "r1", "description": "one"}, {"id": "r2", "description": "two"}],
    )
    client.force_login(instructor)
    reply = client.post(reverse("dashboard:help-close-report", args=[session.pk, "r1"]))
    assert reply.status_code == 302
    session.refresh_from_db()
    first, second = session.bug_reports
    assert (first["status"], first["closedBy"]) == ("closed", "instructor")
    assert first["description"] == "one"
    assert "status" not in second
    missing = client.post(reverse("dashboard:help-close-report", args=[session.pk, "nope"]))
    assert missing.status_code == 404


def test_actions_need_post_and_a_visible_session(client, run, other_run, instructor):
    outside = WorkshopSessionFactory(started_at=other_run.starts_at + dt.timedelta(minutes=1))
    client.force_login(instructor)
    assert client.get(reverse("dashboard:help-claim", args=[outside.pk])).status_code == 405
    assert client.post(reverse("dashboard:help-claim", args=[outside.pk])).status_code == 404
    assert not HelpQueueState.objects.exists()


def test_the_queue_page_and_fragment_render_and_poll(client, run, instructor):
    session = stalled(20)
    client.force_login(instructor)
    page = client.get(reverse("dashboard:help-queue"), {"idle": "5"})
    text = body(page)
    assert page.status_code == 200
    assert 'data-live-url="/dashboard/help/live/?idle=5"' in text
    assert f'data-session="{session.pk}"' in text
    assert "Live run" in text
    bad = client.get(reverse("dashboard:help-queue"), {"idle": "7"})
    assert bad.status_code == 400
    assert "Stalled after" in body(bad)


def test_the_fragment_runs_a_fixed_number_of_queries(
    client, run, instructor, django_assert_max_num_queries
):
    client.force_login(instructor)
    url = reverse("dashboard:help-queue-live")
    for _ in range(3):
        stalled(20, bug_reports=[{"id": "x", "description": "d"}])
    # auth session + user (2), the user's runs (1), the queue (1)
    with django_assert_max_num_queries(4):
        reply = client.get(url)
    assert reply.status_code == 200
    assert body(reply).count("queue-item") == 3
    for _ in range(10):
        stalled(20)
    with django_assert_max_num_queries(4):
        reply = client.get(url)
    assert body(reply).count("queue-item") == 13


# ---------------------------------------------------------------------------------------
# Class grid
# ---------------------------------------------------------------------------------------
def test_the_grid_has_a_cell_per_step_with_its_state(client, run, instructor):
    session = stalled(20, step=3)
    StepProgressFactory(session=session, step_number=1, validation_passed=True, attempts=2)
    StepProgressFactory(session=session, step_number=2, validation_passed=False, attempts=1)
    RunRosterEntry.objects.create(run=run, email="late@example.com", name="Late")
    RunRosterEntry.objects.create(run=run, email=session.student.student_email)
    client.force_login(instructor)
    reply = client.get(reverse("dashboard:grid"), {"sort": "student"})
    text = body(reply)
    assert reply.status_code == 200
    states = [
        (step, state)
        for step, state in zip(range(1, 10), text.split('data-state="')[1:], strict=False)
    ]
    assert [state.split('"')[0] for _, state in states] == [
        "done",
        "working",
        "stuck",
        *["not_started"] * 6,
    ]
    assert "Registered, not started: 1" in text
    assert "late@example.com" in text
    assert reverse("dashboard:student", args=[session.student_id]) in text


def test_the_grid_runs_a_fixed_number_of_queries(
    client, run, instructor, django_assert_max_num_queries
):
    client.force_login(instructor)
    stalled(20)
    # auth (2), runs (1), count + page + steps (3), roster (1)
    with django_assert_max_num_queries(7):
        reply = client.get(reverse("dashboard:grid"))
    assert reply.status_code == 200
    for _ in range(8):
        stalled(20)
    with django_assert_max_num_queries(7):
        reply = client.get(reverse("dashboard:grid"))
    assert body(reply).count("<tr data-session=") == 9


# ---------------------------------------------------------------------------------------
# Scoping by run
# ---------------------------------------------------------------------------------------
SCOPED_PAGES = [
    "dashboard:help-queue",
    "dashboard:grid",
    "dashboard:overview",
    "dashboard:overview-live",
    "dashboard:stuck",
    "dashboard:students",
    "dashboard:stuck-csv",
    "dashboard:students-csv",
]


@pytest.fixture
def two_runs(run, other_run):
    now = timezone.now()
    mine = WorkshopSessionFactory(
        student=StudentFactory(student_email="mine@example.com", student_name="Mina Mine"),
        started_at=now - dt.timedelta(hours=1),
        last_activity=now - dt.timedelta(days=2),
        current_step=2,
        completion_rate=11,
    )
    theirs = WorkshopSessionFactory(
        student=StudentFactory(student_email="theirs@example.com", student_name="Theo Theirs"),
        started_at=other_run.starts_at + dt.timedelta(minutes=10),
        last_activity=now - dt.timedelta(days=2),
        current_step=2,
        completion_rate=11,
    )
    for session in (mine, theirs):
        StepProgressFactory(session=session, step_number=2)
    return mine, theirs


@pytest.mark.usefixtures("two_runs")
@pytest.mark.parametrize("name", SCOPED_PAGES)
def test_an_instructor_sees_only_the_runs_assigned(client, instructor, name):
    client.force_login(instructor)
    text = body(client.get(reverse(name), {"threshold": "1h"}))
    assert "Mina Mine" in text
    assert "Theo Theirs" not in text
    # Asking for the other run by id is refused, naming the field.
    other = WorkshopRun.objects.get(name="Other run")
    refused = client.get(reverse(name), {"run": other.pk})
    assert refused.status_code == 400
    assert "Run" in body(refused)


@pytest.mark.parametrize("name", SCOPED_PAGES)
def test_a_superuser_sees_every_run(client, django_user_model, two_runs, name):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    other = WorkshopRun.objects.get(name="Other run")
    default = body(client.get(reverse(name), {"threshold": "1h"}))
    assert "Theo Theirs" not in default  # the run in progress by default
    chosen = body(client.get(reverse(name), {"threshold": "1h", "run": other.pk}))
    assert "Theo Theirs" in chosen
    assert "Mina Mine" not in chosen
    everything = body(client.get(reverse(name), {"threshold": "1h", "run": "all"}))
    assert "Mina Mine" in everything
    assert "Theo Theirs" in everything


def test_an_instructor_cannot_open_a_student_of_another_run(client, instructor, two_runs):
    mine, theirs = two_runs
    client.force_login(instructor)
    assert client.get(reverse("dashboard:student", args=[mine.student_id])).status_code == 200
    assert client.get(reverse("dashboard:student", args=[theirs.student_id])).status_code == 404


def test_an_instructor_without_runs_sees_no_sessions(client, django_user_model, two_runs):
    helper = django_user_model.objects.create_user("helper", password="pw", is_staff=True)
    client.force_login(helper)
    text = body(client.get(reverse("dashboard:students")))
    assert "You are not assigned to a workshop run yet" in text
    assert "Mina Mine" not in text
    assert "Theo Theirs" not in text


def test_an_instructor_moves_a_session_to_another_of_their_runs(
    client, instructor, two_runs, other_run
):
    mine, _ = two_runs
    other_run.instructors.add(instructor)
    client.force_login(instructor)
    reply = client.post(
        reverse("dashboard:session-move", args=[mine.pk]),
        {"run": other_run.pk, "next": "/dashboard/grid/"},
    )
    assert reply.status_code == 302
    text = body(client.get(reverse("dashboard:grid"), {"run": other_run.pk}))
    assert "Mina Mine" in text
    bad = client.post(reverse("dashboard:session-move", args=[mine.pk]), {"run": "x"})
    assert bad.status_code == 400


def funnel_started_at_step_2(client, **query) -> str:
    reply = client.get(reverse("dashboard:funnel-csv"), query)
    assert reply.status_code == 200
    rows = [line.split(",") for line in body(reply).splitlines()]
    return rows[2][2]  # header, step 1, step 2: its "started" column


def test_the_funnel_counts_only_the_chosen_run(client, instructor, django_user_model, two_runs):
    client.force_login(instructor)
    assert funnel_started_at_step_2(client) == "1"
    assert client.get(reverse("dashboard:funnel"), {"run": "all"}).status_code == 400
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    assert funnel_started_at_step_2(client) == "1"
    assert funnel_started_at_step_2(client, run="all") == "2"


# ---------------------------------------------------------------------------------------
# Run report
# ---------------------------------------------------------------------------------------
def test_percentile_interpolates_like_percentile_cont():
    from analytics.dashboards.run_report import percentile

    assert percentile([], 0.5) is None
    assert percentile([10], 0.9) == 10.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9) == 90.0


def test_the_run_report_groups_errors_ratings_and_times(client, run, instructor):
    a, b = stalled(20, step=2), stalled(20, step=2)
    for session in (a, b):
        EventFactory(
            session=session,
            event_type=EventType.DEPLOYMENT_FAILURE,
            event_data={"stepNumber": 2, "error": "port in use"},
            created_at=timezone.now() - dt.timedelta(minutes=30),
        )
    WorkshopSession.objects.filter(pk=a.pk).update(
        bug_reports=[{"id": "1", "description": "cannot log in", "step": 1}]
    )
    EventFactory(
        session=a, event_type="feedback_submitted", event_data={"rating": 4, "message": "Great"}
    )
    EventFactory(session=b, event_type="feedback_submitted", event_data={"rating": 2})
    client.force_login(instructor)
    reply = client.get(reverse("dashboard:run-report"))
    assert reply.status_code == 200
    report = reply.context["report"]
    assert report.errors[0].kind == "failed deployment"
    assert (report.errors[0].step_number, report.errors[0].count) == (2, 2)
    assert report.errors[1].text == "cannot log in"
    assert (report.rating_average, report.rating_count, report.comments) == (3.0, 2, ["Great"])
    step2 = report.step_times[1]
    assert (step2.rows, step2.p50, step2.p90) == (2, 300.0, 300.0)
    # Two failures half an hour ago, two ratings now: two buckets of two students each.
    assert sum(bucket.events for bucket in report.activity) == 4
    assert [b.students for b in report.activity if b.students] == [2, 2]
    assert report.activity_peak == 2


def test_the_run_report_names_the_step_that_got_worse(client, run, other_run, instructor):
    other_run.instructors.add(instructor)

    def session_in(target, steps_done: int, *, step_two_passed: bool):
        session = WorkshopSessionFactory(started_at=target.starts_at + dt.timedelta(minutes=5))
        StepProgressFactory(session=session, step_number=1, validation_passed=True)
        StepProgressFactory(session=session, step_number=2, validation_passed=step_two_passed)

    for _ in range(2):
        session_in(other_run, 2, step_two_passed=True)
        session_in(run, 2, step_two_passed=False)
    client.force_login(instructor)
    reply = client.get(reverse("dashboard:run-report"))
    assert reply.status_code == 200
    report = reply.context["report"]
    assert report.compared_runs == [other_run]
    assert (report.worst_step.step_number, report.worst_step.delta) == (2, -100.0)
    assert "Got worse: step 2" in body(reply)


def test_the_run_report_runs_a_fixed_number_of_queries(
    client, run, other_run, instructor, django_assert_max_num_queries
):
    other_run.instructors.add(instructor)
    client.force_login(instructor)
    stalled(20)
    # auth (2), runs (1), funnel (1), feedback (1), activity (1), step times (1), bug
    # reports (1), error events (1), one funnel per compared run (1 here)
    with django_assert_max_num_queries(10):
        reply = client.get(reverse("dashboard:run-report"))
    assert reply.status_code == 200
    for _ in range(6):
        stalled(20, bug_reports=[{"id": "x", "description": "d"}])
    with django_assert_max_num_queries(10):
        reply = client.get(reverse("dashboard:run-report"))
    assert reply.context["report"].step_times[2].rows == 7


def test_anonymous_students_read_the_same_everywhere(client, django_user_model, run):
    from workshop.models import anonymous_email

    session = stalled(20, student=StudentFactory(student_email=anonymous_email("x1")))
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    student_url = reverse("dashboard:student", args=[session.student_id])
    for url in (
        reverse("dashboard:students"),
        reverse("dashboard:stuck") + "?threshold=15m",
        student_url,
        reverse("admin:workshop_student_changelist"),
    ):
        text = body(client.get(url))
        assert "anonymous.invalid" not in text, url
        assert "anonymous" in text, url


def test_a_bad_filter_keeps_the_form_and_says_what_is_wrong(client, run, instructor):
    client.force_login(instructor)
    reply = client.get(reverse("dashboard:grid"), {"start": "2026-13-01", "demo": "exclude"})
    text = body(reply)
    assert reply.status_code == 400
    assert "<strong>Sessions started from</strong>" in text
    assert 'name="start" value="2026-13-01"' in text
    assert '<option value="exclude" selected>' in text


def test_the_queue_links_are_the_routes(client, run, instructor):
    session = stalled(20, bug_reports=[{"id": "r1", "description": "x"}])
    client.force_login(instructor)
    text = body(client.get(reverse("dashboard:help-queue-live")))
    token = session.session_token
    for url in (
        reverse("dashboard:student", args=[session.student_id]),
        reverse("dashboard:help-claim", args=[token]),
        reverse("dashboard:help-resolve", args=[token]),
        reverse("dashboard:help-close-report", args=[token, "r1"]),
    ):
        assert f'"{url}"' in text, url
