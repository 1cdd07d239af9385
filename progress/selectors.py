"""Reads of sessions with their step progress, shaped for the API.

Each returns model instances with the student joined and the steps prefetched (without the
submitted code, which can be 100 KB per step), so a reply costs the same few queries whatever
the number of sessions or steps.
"""

import uuid

from django.db.models import Prefetch, QuerySet

from progress.models import StepProgress
from workshop.errors import SESSION_NOT_FOUND, STUDENT_NOT_FOUND, NotFoundError
from workshop.models import Student, WorkshopSession, normalize_email

STEP_REPLY_COLUMNS = (
    "id",
    "session_id",
    "step_number",
    "step_name",
    "validation_passed",
    "started_at",
    "completed_at",
    "time_spent",
    "attempts",
    "deployment_url",
)


def sessions_with_steps() -> QuerySet[WorkshopSession]:
    steps = StepProgress.objects.only(*STEP_REPLY_COLUMNS).order_by("step_number")
    return WorkshopSession.objects.select_related("student").prefetch_related(
        Prefetch("steps", queryset=steps)
    )


def session_progress(*, session_token: str) -> WorkshopSession:
    """One session with its student and steps (2 queries); 404 when unknown."""
    session = sessions_with_steps().filter(session_token=session_token).first()
    if session is None:
        raise NotFoundError(SESSION_NOT_FOUND)
    return session


def _student_sessions(sessions: QuerySet[WorkshopSession], student: QuerySet[Student]) -> list:
    # Sessions first (one join, then one prefetch); the student's existence is only asked
    # when there is no session, so a reply costs 2 queries, or 2 when the list is empty.
    found = list(sessions.order_by("-last_activity", "session_token"))
    if not found and not student.exists():
        raise NotFoundError(STUDENT_NOT_FOUND)
    return found


def sessions_of_student_id(*, student_id: uuid.UUID) -> list[WorkshopSession]:
    """Every session of the student, newest activity first; 404 when the student is unknown."""
    return _student_sessions(
        sessions_with_steps().filter(student_id=student_id),
        Student.objects.filter(pk=student_id),
    )


def sessions_of_student_email(*, email: str) -> list[WorkshopSession]:
    """Every session of the student with this address (trimmed, case-insensitive)."""
    normalized = normalize_email(email)
    return _student_sessions(
        sessions_with_steps().filter(student__student_email=normalized),
        Student.objects.filter(student_email=normalized),
    )


def session_configuration(*, session_token: str) -> WorkshopSession:
    """One session with its student, for student-config-get (1 query); 404 when unknown."""
    session = (
        WorkshopSession.objects.select_related("student")
        .filter(session_token=session_token)
        .first()
    )
    if session is None:
        raise NotFoundError(SESSION_NOT_FOUND)
    return session
