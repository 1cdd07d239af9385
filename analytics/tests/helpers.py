"""Helpers shared by the analytics tests."""

from analytics.models import Event
from progress.models import StepProgress
from workshop.models import Student, WorkshopSession


def row_counts() -> tuple[int, int, int, int]:
    """Rows in students, sessions, step_progress and events: what an all-or-nothing or
    idempotent command must leave as it found it."""
    return (
        Student.objects.count(),
        WorkshopSession.objects.count(),
        StepProgress.objects.count(),
        Event.objects.count(),
    )
