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
