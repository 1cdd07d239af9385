"""Repair of every session's totals from its steps (`manage.py recalculate_progress`).

The same rules as progress.services.recalculate_session (completed = steps with
validation_passed, time = their time_spent, completion_rate = round(100 * completed / 9),
current_step = the highest step touched), applied set-based: per batch of sessions, one query
reads stored and computed totals side by side and one UPDATE fixes only the rows that differ.
Each batch is its own short transaction.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Least

from progress.models import StepProgress
from workshop.models import WorkshopSession
from workshop.steps import TOTAL_STEPS

BATCH_SIZE = 5000


@dataclass
class RecalculationReport:
    dry_run: bool
    checked: int = 0
    repaired: int = 0


def _step_aggregate(expression) -> Subquery:
    return Coalesce(
        Subquery(
            StepProgress.objects.filter(session_id=OuterRef("pk"))
            .order_by()
            .values("session_id")
            .annotate(value=expression)
            .values("value"),
            output_field=IntegerField(),
        ),
        0,
    )


def computed_totals() -> dict:
    completed = _step_aggregate(Count("id", filter=Q(validation_passed=True)))
    return {
        # round(100 * c / 9) for c >= 0 in integer arithmetic, as progress.services does.
        "new_rate": Least(
            (completed * Value(200) + Value(TOTAL_STEPS)) / Value(2 * TOTAL_STEPS), Value(100)
        ),
        "new_time": _step_aggregate(Sum("time_spent", filter=Q(validation_passed=True))),
        "new_step": _step_aggregate(Max("step_number")),
    }


def recalculate_all_sessions(
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str], None] = lambda message: None,
) -> RecalculationReport:
    report = RecalculationReport(dry_run=dry_run)
    last = None
    while True:
        sessions = WorkshopSession.objects.order_by("pk")
        if last is not None:
            sessions = sessions.filter(pk__gt=last)
        with transaction.atomic():
            rows = list(
                sessions.annotate(**computed_totals()).values_list(
                    "pk",
                    "completion_rate",
                    "total_time_spent",
                    "current_step",
                    "new_rate",
                    "new_time",
                    "new_step",
                )[:batch_size]
            )
            if not rows:
                return report
            wrong = [row[0] for row in rows if tuple(row[1:4]) != tuple(row[4:7])]
            if wrong and not dry_run:
                totals = computed_totals()
                WorkshopSession.objects.filter(pk__in=wrong).update(
                    completion_rate=totals["new_rate"],
                    total_time_spent=totals["new_time"],
                    current_step=totals["new_step"],
                )
        report.checked += len(rows)
        report.repaired += len(wrong)
        last = rows[-1][0]
        progress(f"checked {report.checked} sessions, {report.repaired} needed repair")
