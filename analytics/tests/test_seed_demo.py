"""seed_demo: realistic, internally consistent demo data."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, Q, Sum

from analytics.models import Event, EventType
from progress.models import StepProgress
from progress.totals import completion_rate
from workshop.models import Student, WorkshopSession

pytestmark = pytest.mark.django_db


def seed(students: int, *extra: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--students", str(students), "--seed", "7", *extra, stdout=out)
    return out.getvalue()


def test_seed_demo_adds_the_students_with_sessions_steps_and_events():
    output = seed(120, "--chunk-size", "50")

    assert Student.objects.count() == 120
    sessions = WorkshopSession.objects.count()
    assert 120 <= sessions <= 240
    assert (
        f"Added 120 students, {sessions} sessions, {StepProgress.objects.count()} step rows"
        in output
    )
    assert Event.objects.filter(event_type=EventType.SESSION_CREATED).count() == sessions
    # Every step row belongs to the student who owns its session.
    assert not StepProgress.objects.exclude(student_id=F("session__student_id")).exists()


def test_session_totals_agree_with_their_steps():
    seed(80)

    sessions = WorkshopSession.objects.annotate(
        passed=Count("steps", filter=Q(steps__validation_passed=True)),
        passed_time=Sum("steps__time_spent", filter=Q(steps__validation_passed=True), default=0),
        highest=Max("steps__step_number"),
    )
    for session in sessions:
        assert session.completion_rate == completion_rate(session.passed)
        assert session.total_time_spent == session.passed_time
        assert session.current_step == session.highest


def test_seed_demo_spreads_students_over_steps_and_states():
    seed(300)

    steps_reached = set(WorkshopSession.objects.values_list("current_step", flat=True))
    assert steps_reached == set(range(1, 10))
    assert WorkshopSession.objects.filter(completion_rate=100).exists()
    assert WorkshopSession.objects.filter(demo_mode=True).exists()
    assert WorkshopSession.objects.filter(is_active=False).exists()
    assert Student.objects.anonymous().exists()


def test_seeding_twice_with_the_same_seed_adds_more_without_collisions():
    seed(30)
    seed(30)

    assert Student.objects.count() == 60


def test_if_empty_leaves_a_populated_database_alone():
    seed(10)

    output = seed(10, "--if-empty")

    assert Student.objects.count() == 10
    assert "already has students" in output


def test_rejects_a_non_positive_count():
    with pytest.raises(CommandError, match="--students must be at least 1"):
        seed(0)


def test_demo_data_tells_one_consistent_story():
    import datetime as dt

    from django.utils import timezone

    from analytics.dashboards.help_queue import help_queue
    from analytics.dashboards.selectors import DashboardFilters
    from workshop.models import WorkshopRun
    from workshop.runs import current_run, sessions_of_run

    seed(150)
    now = timezone.now()
    # Nothing happens in the future or after its session's last activity.
    assert not Event.objects.filter(created_at__gt=now).exists()
    assert not Event.objects.filter(created_at__gt=F("session__last_activity")).exists()
    assert not WorkshopSession.objects.filter(last_activity__gt=now).exists()
    for reports in WorkshopSession.objects.exclude(bug_reports=[]).values_list(
        "bug_reports", flat=True
    ):
        for report in reports:
            assert dt.datetime.fromisoformat(report["createdAt"]) <= now
    # Events happen when their rows say: a step's start event at the row's started_at.
    step = StepProgress.objects.order_by("id").first()
    started = Event.objects.get(
        session_id=step.session_id,
        event_type=EventType.STEP_STARTED,
        event_data__stepNumber=step.step_number,
    )
    assert started.created_at == step.started_at
    # Every session is in a run; one run is in progress, with students stalling now.
    live = current_run(now)
    assert live is not None
    assert WorkshopRun.objects.count() == 14
    in_runs = sum(sessions_of_run(run).count() for run in WorkshopRun.objects.all())
    assert in_runs == WorkshopSession.objects.count()
    assert sessions_of_run(live).count() == 60
    queue = help_queue(DashboardFilters(run=live))
    assert len(queue) >= 5
    assert any(row.last_failure or row.open_reports or row.last_log_error for row in queue)
