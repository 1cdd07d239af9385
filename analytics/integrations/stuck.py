"""Stuck-student alerts: a student idle on an unfinished step past the threshold, with a
failure signal, is reported to the instructors at most once per student and step an hour."""

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from analytics.dashboards.selectors import DashboardFilters, stuck_sessions
from analytics.integrations.models import StuckAlert, Topic
from analytics.integrations.services import OutboxEntry, record_outbox
from analytics.models import Event, EventType

ALERT_INTERVAL = dt.timedelta(hours=1)
# Idle longer than this is a student who left, not one who needs help now.
MAX_IDLE = dt.timedelta(hours=3)
BATCH = 200

_CLAIM_SQL = f"""
INSERT INTO {StuckAlert._meta.db_table} (student_id, step_number, alerted_at)
VALUES (%s, %s, %s)
ON CONFLICT (student_id, step_number) DO UPDATE SET alerted_at = excluded.alerted_at
WHERE {StuckAlert._meta.db_table}.alerted_at <= %s
RETURNING id
"""


def _claim(*, student_id, step_number: int, now: dt.datetime) -> bool:
    """The right to alert about this student and step now: one statement decides, so two
    sweeps running at once cannot both alert."""
    uuid_field = StuckAlert._meta.get_field("student_id")
    time_field = StuckAlert._meta.get_field("alerted_at")
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            [
                uuid_field.get_db_prep_value(student_id, connection),
                step_number,
                time_field.get_db_prep_value(now, connection),
                time_field.get_db_prep_value(now - ALERT_INTERVAL, connection),
            ],
        )
        return cursor.fetchone() is not None


def _last_error(session_token: str) -> str:
    event = (
        Event.objects.filter(session_id=session_token, event_type=EventType.DEPLOYMENT_FAILURE)
        .order_by("-created_at", "-id")
        .values_list("event_data", flat=True)
        .first()
    )
    return str(event.get("error") or "")[:500] if isinstance(event, dict) else ""


def alert_stuck_students(*, now: dt.datetime | None = None) -> int:
    """Record a student_stuck message for each newly stuck student and step. Returns how
    many were recorded."""
    now = now or timezone.now()
    threshold = dt.timedelta(minutes=settings.STUCK_ALERT_AFTER_MINUTES)
    candidates = (
        stuck_sessions(DashboardFilters(), threshold=threshold, now=now)
        .filter(last_activity__gte=now - MAX_IDLE, current_step__gte=1)
        .filter(Q(step_attempts__gte=2) | Q(failed_deployments__gt=0) | Q(open_bug_reports__gt=0))
    )[:BATCH]
    recorded = 0
    for session in candidates:
        with transaction.atomic():
            if not _claim(student_id=session.student_id, step_number=session.current_step, now=now):
                continue
            idle = now - session.last_activity
            record_outbox(
                [
                    OutboxEntry(
                        topic=Topic.STUDENT_STUCK,
                        student_id=session.student_id,
                        session_token=session.pk,
                        data={
                            "step": session.current_step,
                            "signals": {
                                "idle_minutes": int(idle.total_seconds() // 60),
                                "attempts": session.step_attempts,
                                "failed_deployments": session.failed_deployments,
                                "bug_reports": session.open_bug_reports,
                                "last_error": _last_error(session.pk),
                            },
                        },
                    )
                ]
            )
            recorded += 1
    return recorded
