"""The summary mailed to a run's instructors once the run has ended: funnel, completion,
top errors and feedback, computed from the run's sessions when the run is found ended."""

import datetime as dt
from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, Q
from django.utils import timezone

from analytics.integrations.models import Topic
from analytics.integrations.services import OutboxEntry, record_outbox
from analytics.models import Event, EventType
from progress.models import StepProgress
from workshop.formatting import iso_z
from workshop.models import WorkshopRun
from workshop.runs import runs_ended_between, sessions_of_run
from workshop.steps import TOTAL_STEPS, step_title

# A run ended longer ago than this is history, not news (beat was down for a week).
LOOKBACK = dt.timedelta(days=7)
TOP_ERRORS = 5
LATEST_FEEDBACK = 5


def _error_text(value: Any) -> str:
    return " ".join(str(value or "").split())[:200]


def summarize_run(run: WorkshopRun) -> dict[str, Any]:
    """Plain data (JSON-ready): the run, its funnel, completion, errors and feedback."""
    sessions = sessions_of_run(run)
    tokens = sessions.values("session_token")
    totals = sessions.aggregate(
        sessions=Count("session_token"),
        completed=Count("session_token", filter=Q(completion_rate__gte=100)),
        average=Avg("completion_rate"),
    )
    per_step = {
        row["step_number"]: row
        for row in StepProgress.objects.filter(session_id__in=tokens)
        .values("step_number")
        .annotate(started=Count("id"), completed=Count("id", filter=Q(validation_passed=True)))
    }
    funnel = [
        {
            "step": number,
            "title": step_title(number),
            "started": per_step.get(number, {}).get("started", 0),
            "completed": per_step.get(number, {}).get("completed", 0),
        }
        for number in range(1, TOTAL_STEPS + 1)
    ]
    errors: Counter[str] = Counter()
    for data in Event.objects.filter(
        session_id__in=tokens, event_type=EventType.DEPLOYMENT_FAILURE
    ).values_list("event_data", flat=True):
        if isinstance(data, dict) and data.get("error"):
            errors[_error_text(data["error"])] += 1
    for reports in sessions.values_list("bug_reports", flat=True):
        for report in reports if isinstance(reports, list) else []:
            if isinstance(report, dict):
                text = report.get("errorMessage") or report.get("description")
                if text:
                    errors[_error_text(text)] += 1
    feedback = list(
        Event.objects.filter(session_id__in=tokens, event_type="feedback_submitted")
        .order_by("-created_at", "-id")
        .values_list("event_data", flat=True)
    )
    ratings = [
        item["rating"]
        for item in feedback
        # 0 or null: the student gave no rating.
        if isinstance(item, dict) and isinstance(item.get("rating"), int) and item["rating"] > 0
    ]
    return {
        "id": run.pk,
        "name": run.name,
        "starts_at": iso_z(run.starts_at),
        "ends_at": iso_z(run.ends_at),
        "sessions": totals["sessions"],
        "completed_sessions": totals["completed"],
        "average_completion": round(totals["average"] or 0),
        "funnel": funnel,
        "top_errors": [
            {"error": text, "count": count} for text, count in errors.most_common(TOP_ERRORS)
        ],
        "feedback": {
            "count": len(feedback),
            "average_rating": round(sum(ratings) / len(ratings), 1) if ratings else None,
            "latest": [
                _error_text(item.get("message"))
                for item in feedback[:LATEST_FEEDBACK]
                if isinstance(item, dict) and item.get("message")
            ],
        },
    }


def record_run_summaries(*, now: dt.datetime | None = None) -> int:
    """One run_ended message per run that ended (once: the dedupe key), for the e-mail."""
    now = now or timezone.now()
    recorded = 0
    for run in runs_ended_between(now - LOOKBACK, now):
        with transaction.atomic():
            created = record_outbox(
                [
                    OutboxEntry(
                        topic=Topic.RUN_ENDED,
                        data={"run": summarize_run(run)},
                        dedupe_key=f"run_ended:{run.pk}",
                    )
                ]
            )
        recorded += len(created)
    return recorded
