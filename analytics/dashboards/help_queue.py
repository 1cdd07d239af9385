"""The help queue: students of a run who need an instructor now, most recently stalled first.

A session is in the queue when it is active and unfinished and either has stalled (idle longer
than the page's threshold on a current step that is not validated: the stuck rule of
analytics/selectors.py with a threshold in minutes) or has an open bug report. "Resolved"
hides it until a new signal arrives after `resolved_at`: new activity (progress, a deployment)
or a new bug report, failed deployment or session-log error.

One query for the rows, their signals (correlated subqueries, evaluated for the listed rows
only) and their help state, whatever the size of the run; bug reports' text is read from the
rows' JSON in Python.
"""

import datetime as dt
import json
from dataclasses import dataclass

from django.db.models import (
    Exists,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from analytics.dashboards.selectors import DashboardFilters, JsonArrayLength, filtered_sessions
from analytics.models import Event, EventType, HelpQueueState
from progress.models import StepProgress
from workshop.bug_reports import open_reports, report_text
from workshop.models import WorkshopSession
from workshop.steps import STEPS

DEFAULT_THRESHOLD_MINUTES = 10
THRESHOLD_CHOICES = (1, 2, 5, 10, 15, 30, 60)
QUEUE_LIMIT = 200
# The frontend's session log (progress.services.record_session_log): entries of logType
# "error" are signals.
SESSION_LOG = EventType.SESSION_LOG
SESSION_LOG_ERROR = "error"
STEP_TITLES = {step.number: step.title for step in STEPS}


def session_log_errors():
    return Event.objects.filter(event_type=SESSION_LOG, event_data__logType=SESSION_LOG_ERROR)


def _signals_after(moment: OuterRef):
    """Events that count as a new signal for a resolved session."""
    return Event.objects.filter(session=OuterRef("pk"), created_at__gt=moment).filter(
        Q(event_type__in=[EventType.BUG_REPORTED, EventType.DEPLOYMENT_FAILURE])
        | Q(event_type=SESSION_LOG, event_data__logType=SESSION_LOG_ERROR)
    )


@dataclass
class QueueRow:
    session: WorkshopSession
    stalled: bool
    idle: dt.timedelta
    step_title: str
    attempts: int
    time_on_step: int
    last_failure: dict | None  # event_data of the last deployment_failure
    last_log_error: dict | None  # event_data of the last session-log error
    open_reports: list[dict]
    claimed_by: str | None
    claimed_at: dt.datetime | None

    @property
    def open_report_texts(self) -> list[tuple[str, str]]:
        return [(str(entry.get("id", "")), report_text(entry)) for entry in self.open_reports]

    @property
    def failure_text(self) -> str:
        data = self.last_failure or {}
        step = data.get("stepNumber")
        where = f"step {step} ({STEP_TITLES[step]})" if step in STEP_TITLES else "a deployment"
        return f"{where}: {data.get('error') or 'failed, no message'}"

    @property
    def log_error_text(self) -> str:
        data = (self.last_log_error or {}).get("data")
        if isinstance(data, dict):
            return str(data.get("message") or data.get("error") or data)[:300]
        return str(data or "error")[:300]


def queue_candidates(filters: DashboardFilters, *, threshold: dt.timedelta, now: dt.datetime):
    """The queue's rows as one queryset (see the module's docstring), newest stall first."""
    current_step_row = StepProgress.objects.filter(
        session=OuterRef("pk"), step_number=OuterRef("current_step")
    )
    current_step_passed = Coalesce(
        Subquery(current_step_row.values("validation_passed")[:1]), Value(False)
    )
    resolved = HelpQueueState.objects.filter(session=OuterRef("pk"), resolved_at__isnull=False)
    hidden = Exists(
        resolved.filter(resolved_at__gte=OuterRef("last_activity")).exclude(
            Exists(_signals_after(OuterRef("resolved_at")))
        )
    )
    last_failure = Event.objects.filter(
        session=OuterRef("pk"), event_type=EventType.DEPLOYMENT_FAILURE
    ).order_by("-created_at", "-id")
    last_log_error = (
        session_log_errors().filter(session=OuterRef("pk")).order_by("-created_at", "-id")
    )
    return (
        filtered_sessions(filters)
        .filter(is_active=True, completion_rate__lt=100)
        .alias(
            current_step_passed=current_step_passed,
            report_count=JsonArrayLength("bug_reports"),
        )
        .filter(
            Q(last_activity__lt=now - threshold, current_step_passed=False) | Q(report_count__gt=0)
        )
        .exclude(hidden)
        .select_related("student", "help_state__claimed_by")
        .annotate(
            step_attempts=Coalesce(Subquery(current_step_row.values("attempts")[:1]), 0),
            step_time_spent=Coalesce(Subquery(current_step_row.values("time_spent")[:1]), 0),
            step_passed=current_step_passed,
            last_failure=Subquery(last_failure.values("event_data")[:1]),
            last_log_error=Subquery(last_log_error.values("event_data")[:1]),
        )
        .order_by("-last_activity", "session_token")
    )


def help_queue(
    filters: DashboardFilters,
    *,
    threshold: dt.timedelta = dt.timedelta(minutes=DEFAULT_THRESHOLD_MINUTES),
    now: dt.datetime | None = None,
) -> list[QueueRow]:
    """The queue, at most QUEUE_LIMIT rows: one query."""
    now = now or timezone.now()
    rows = []
    for session in queue_candidates(filters, threshold=threshold, now=now)[:QUEUE_LIMIT]:
        idle = now - session.last_activity if session.last_activity else dt.timedelta(0)
        stalled = idle > threshold and not session.step_passed
        reports = open_reports(session.bug_reports)
        if not stalled and not reports:
            continue  # only closed reports, and not idle: nothing to help with
        state = getattr(session, "help_state", None)
        claimed_by = state.claimed_by if state is not None else None
        rows.append(
            QueueRow(
                session=session,
                stalled=stalled,
                idle=idle,
                step_title=STEP_TITLES.get(session.current_step, "Not started"),
                attempts=session.step_attempts,
                time_on_step=session.step_time_spent or 0,
                last_failure=_as_dict(session.last_failure),
                last_log_error=_as_dict(session.last_log_error),
                open_reports=reports,
                claimed_by=claimed_by.get_username() if claimed_by is not None else None,
                claimed_at=state.claimed_at if state is not None else None,
            )
        )
    return rows


def _as_dict(value) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None
