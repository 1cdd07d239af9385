"""The webhook body, schema version 1 (docs/webhooks.md): what receivers may rely on.

Built once per outbox message when it is dispatched, from the rows as they are then. Never
carries a session token (it is the session's write credential) nor any secret.
"""

import json
from typing import Any

from django.urls import reverse

from analytics.integrations.models import OutboxMessage
from workshop.formatting import iso_z
from workshop.models import Student, WorkshopSession
from workshop.steps import TOTAL_STEPS, step_title

SCHEMA_VERSION = 1


def student_url(student_id) -> str:
    from django.conf import settings

    return settings.SITE_URL + reverse("dashboard:student", args=[student_id])


def _student(student_id) -> dict[str, Any] | None:
    student = Student.objects.filter(pk=student_id).first() if student_id else None
    if student is None:
        return None
    return {
        "id": str(student.pk),
        "email": None if student.is_anonymous else student.student_email,
        "name": student.student_name,
        "url": student_url(student.pk),
    }


def _session(session_token) -> dict[str, Any] | None:
    session = (
        WorkshopSession.objects.filter(pk=session_token)
        .only("started_at", "completion_rate", "current_step", "total_time_spent", "demo_mode")
        .first()
        if session_token
        else None
    )
    if session is None:
        return None
    return {
        "started_at": iso_z(session.started_at),
        "completion_rate": session.completion_rate,
        "current_step": session.current_step,
        "total_steps": TOTAL_STEPS,
        "total_time_spent": session.total_time_spent,
        "demo_mode": session.demo_mode,
    }


def _step(number) -> dict[str, Any] | None:
    if not isinstance(number, int) or not 1 <= number <= TOTAL_STEPS:
        return None
    return {"number": number, "title": step_title(number)}


# The bug report's fields as receivers get them (API name -> body name).
BUG_REPORT_FIELDS = {
    "id": "id",
    "createdAt": "created_at",
    "step": "step",
    "description": "description",
    "errorMessage": "error_message",
    "expectedBehavior": "expected_behavior",
    "actualBehavior": "actual_behavior",
    "pageUrl": "page_url",
    "browserInfo": "browser_info",
}


def bug_report(session_token, report_id) -> dict[str, Any] | None:
    """The session's bug report with this id, read from the session (the outbox keeps only
    the id, so student text is stored in one place)."""
    reports = (
        WorkshopSession.objects.filter(pk=session_token)
        .values_list("bug_reports", flat=True)
        .first()
    )
    if isinstance(reports, str):
        try:
            reports = json.loads(reports)
        except ValueError:
            reports = None
    for entry in reports if isinstance(reports, list) else []:
        if isinstance(entry, dict) and entry.get("id") == report_id:
            return {name: entry.get(key) for key, name in BUG_REPORT_FIELDS.items()}
    return None


def build_data(message: OutboxMessage) -> dict[str, Any]:
    """The `data` object: student and session for every topic, plus the topic's own part."""
    data: dict[str, Any] = {
        "student": _student(message.student_id),
        "session": _session(message.session_token),
    }
    extra = message.data or {}
    if "step" in extra:
        data["step"] = _step(extra["step"])
    if "bug_report_id" in extra:
        data["bug_report"] = bug_report(message.session_token, extra["bug_report_id"])
    elif "bug_report_inline" in extra:
        inline = extra["bug_report_inline"]
        data["bug_report"] = {name: inline.get(key) for key, name in BUG_REPORT_FIELDS.items()}
    for key in ("feedback", "signals", "run"):
        if key in extra:
            data[key] = extra[key]
    return data


def build_body(message: OutboxMessage) -> str:
    return json.dumps(
        {
            "id": str(message.event_id),
            "type": message.topic,
            "schema_version": SCHEMA_VERSION,
            "created_at": iso_z(message.created_at),
            "data": build_data(message),
        },
        separators=(",", ":"),
        sort_keys=True,
    )
