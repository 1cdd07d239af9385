"""The session-totals rule, its one home: a session's completion_rate, total_time_spent and
current_step follow from its step rows.

    completed        = the steps with validation_passed
    total_time_spent = the sum of those steps' time_spent
    completion_rate  = round(100 * completed / 9), halves away from zero (SQL's ROUND)
    current_step     = the highest step the session has touched (0 without steps)

total_time_spent (like a step's time_spent) saturates at MAX_SECONDS, the integer column's
maximum, rather than overflow (repeated POSTs could otherwise push it there: a 500).

It is the spec's `update_session_progress()` (docs/spec/schema-v2.md) but for last_activity,
which repairs must not touch (writers recording activity pass it, and the expiry slides with
it: workshop/expiry.py). The forms below all compute it; each is tested against the
Python one on the same cases (progress/tests/test_totals.py):

- totals_from_steps(): the rule in Python, for writers that build rows in memory (demo
  data);
- recalculate_session(): one session, ORM aggregate + UPDATE (deployments, admin action);
- REFRESH_TOTALS_SQL / refresh_totals(): the progress POST's one-statement UPDATE;
- completion_rate_sql(): the rate as an SQL expression, for set-based SQL (the legacy
  pipeline: table migration and backup import) and the statement above;
- recalculate_all_sessions(): every session in batches, set-based (`recalculate_progress`).
"""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Least

from progress.models import StepProgress
from workshop.batches import iter_pk_batches
from workshop.expiry import activity_changes
from workshop.models import WorkshopSession
from workshop.steps import TOTAL_STEPS

# The integer columns' maximum (2^31 - 1 s, about 68 years): no real student gets near it.
MAX_SECONDS = 2**31 - 1


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


def completion_rate_sql(completed: str) -> str:
    """completion_rate() as an integer SQL expression of the SQL expression `completed`, the
    same on PostgreSQL and SQLite. Uncapped: a session has at most 9 step rows."""
    return f"(200 * ({completed}) + {TOTAL_STEPS}) / {2 * TOTAL_STEPS}"


def totals_from_steps(steps: Iterable[tuple[int, bool, int]]) -> SessionTotals:
    """The rule over steps held in memory: (step_number, validation_passed, time_spent)."""
    completed = time_spent = highest = 0
    for step_number, passed, seconds in steps:
        highest = max(highest, step_number)
        if passed:
            completed += 1
            time_spent += seconds or 0
    return SessionTotals(
        completed_steps=completed,
        total_time_spent=min(time_spent, MAX_SECONDS),
        completion_rate=completion_rate(completed),
        current_step=highest,
    )


def recalculate_session(
    *, session_token: str, last_activity: dt.datetime | None = None
) -> SessionTotals:
    """Recompute one session's totals from its steps and store them. Leaves last_activity
    alone unless given: repairs must not make idle students look active.

    One aggregate query and one update. Callers writing progress run it inside their
    transaction after locking the session row, so concurrent writers cannot interleave, and
    pass `last_activity` to record the activity in that same update.
    """
    totals = StepProgress.objects.filter(session_id=session_token).aggregate(
        completed=Count("id", filter=Q(validation_passed=True)),
        time=Coalesce(Sum("time_spent", filter=Q(validation_passed=True)), 0),
        highest=Coalesce(Max("step_number"), 0),
    )
    result = SessionTotals(
        completed_steps=totals["completed"],
        total_time_spent=min(totals["time"], MAX_SECONDS),
        completion_rate=completion_rate(totals["completed"]),
        current_step=totals["highest"],
    )
    changes: dict[str, Any] = {
        "completion_rate": result.completion_rate,
        "total_time_spent": result.total_time_spent,
        "current_step": result.current_step,
    }
    if last_activity is not None:
        # An accepted write: the expiry slides with the activity (workshop.expiry).
        changes.update(activity_changes(last_activity))
    WorkshopSession.objects.filter(session_token=session_token).update(**changes)
    return result


# recalculate_session's numbers in one statement: the progress POST's hot path saves a round
# trip, and raw SQL because the ORM's Subquery form of it cost more CPU to compile (about
# 0.7 ms a POST) than the round trip it saved.
_PASSED_STEPS = "SELECT COUNT(*) FROM step_progress WHERE session_token = %s AND validation_passed"
REFRESH_TOTALS_SQL = f"""
UPDATE sessions SET
  completion_rate = {completion_rate_sql(_PASSED_STEPS)},
  total_time_spent = (SELECT CASE WHEN total > {MAX_SECONDS} THEN {MAX_SECONDS} ELSE total END
                      FROM (SELECT COALESCE(SUM(time_spent), 0) AS total FROM step_progress
                            WHERE session_token = %s AND validation_passed) AS summed),
  current_step = (SELECT COALESCE(MAX(step_number), 0) FROM step_progress
                  WHERE session_token = %s),
  last_activity = %s,
  expires_at = %s
WHERE session_token = %s
RETURNING completion_rate
"""


def refresh_totals(*, session_token: str, last_activity: dt.datetime) -> int:
    """The totals, the activity and the slid expiry (workshop.expiry) in one statement.
    Returns the new completion_rate (RETURNING: no extra round trip), from which the caller
    sees a session reach 100 %."""
    field = WorkshopSession._meta.get_field("last_activity")
    activity = activity_changes(last_activity)
    with connection.cursor() as cursor:
        cursor.execute(
            REFRESH_TOTALS_SQL,
            [session_token] * 3
            + [
                field.get_db_prep_value(activity["last_activity"], connection),
                field.get_db_prep_value(activity["expires_at"], connection),
                session_token,
            ],
        )
        return cursor.fetchone()[0]


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
        # completion_rate() in integer arithmetic, capped as it is.
        "new_rate": Least(
            (completed * Value(200) + Value(TOTAL_STEPS)) / Value(2 * TOTAL_STEPS), Value(100)
        ),
        "new_time": Least(
            _step_aggregate(Sum("time_spent", filter=Q(validation_passed=True))),
            Value(MAX_SECONDS),
        ),
        "new_step": _step_aggregate(Max("step_number")),
    }


def recalculate_all_sessions(
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str], None] = lambda message: None,
) -> RecalculationReport:
    report = RecalculationReport(dry_run=dry_run)
    stored_and_computed = WorkshopSession.objects.annotate(**computed_totals())
    fields = ("completion_rate", "total_time_spent", "current_step", "new_rate", "new_time")
    for rows in iter_pk_batches(stored_and_computed, batch_size, *fields, "new_step"):
        wrong = [row[0] for row in rows if tuple(row[1:4]) != tuple(row[4:7])]
        if wrong and not dry_run:
            totals = computed_totals()
            with transaction.atomic():
                WorkshopSession.objects.filter(pk__in=wrong).update(
                    completion_rate=totals["new_rate"],
                    total_time_spent=totals["new_time"],
                    current_step=totals["new_step"],
                )
        report.checked += len(rows)
        report.repaired += len(wrong)
        progress(f"checked {report.checked} sessions, {report.repaired} needed repair")
    return report
