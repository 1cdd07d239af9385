"""Writes to step progress and the session totals derived from it."""

from dataclasses import dataclass

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce

from progress.models import StepProgress
from workshop.models import WorkshopSession
from workshop.steps import TOTAL_STEPS


@dataclass(frozen=True)
class SessionTotals:
    completed_steps: int
    total_time_spent: int
    completion_rate: int
    current_step: int


def completion_rate(completed_steps: int) -> int:
    """round(100 * completed / 9), halves away from zero as SQL's ROUND(numeric), capped at
    100."""
    rate = (200 * completed_steps + TOTAL_STEPS) // (2 * TOTAL_STEPS)
    return max(0, min(100, rate))


def recalculate_session(*, session_token: str) -> SessionTotals:
    """Recompute a session's totals from its steps, as the SQL `update_session_progress` does.

    completed = steps with validation_passed; time = the sum of those steps' time_spent;
    completion_rate = round(100 * completed / 9). Also sets current_step to the highest step
    the session has touched. Unlike the SQL function it leaves last_activity alone: repairs
    must not make idle students look active; callers recording activity set it themselves.

    One aggregate query and one update. Callers writing progress run it inside their
    transaction after locking the session row, so concurrent writers cannot interleave.
    """
    totals = StepProgress.objects.filter(session_id=session_token).aggregate(
        completed=Count("id", filter=Q(validation_passed=True)),
        time=Coalesce(Sum("time_spent", filter=Q(validation_passed=True)), 0),
        highest=Coalesce(Max("step_number"), 0),
    )
    result = SessionTotals(
        completed_steps=totals["completed"],
        total_time_spent=totals["time"],
        completion_rate=completion_rate(totals["completed"]),
        current_step=totals["highest"],
    )
    WorkshopSession.objects.filter(session_token=session_token).update(
        completion_rate=result.completion_rate,
        total_time_spent=result.total_time_spent,
        current_step=result.current_step,
    )
    return result
