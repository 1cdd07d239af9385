"""A session as its token holder sees it: THE reply of the progress API, one home per backend.

- `session_body(session)`: the reply built in Python from a session read with
  `selectors.sessions_with_steps()` (SQLite, and instructors' lists on every backend);
- `progress/db_functions.py` `wp_session_reply(token)`: the same reply as one PostgreSQL
  function, its configuration part generated from the same table (workshop/session_config.py).

`session_reply()` is what a read of one session by its token calls (`session_reply_json()`
for its text): one statement on PostgreSQL. `progress/tests/test_db_functions.py` runs both
on the same sessions and compares.
"""

import json
from typing import Any

from django.db import connection

from progress import db_functions, selectors
from progress.models import StepProgress
from workshop.errors import SESSION_NOT_FOUND, NotFoundError
from workshop.formatting import iso_z
from workshop.models import WorkshopSession, stored_json
from workshop.session_config import SESSION_CONFIG, Kind


def shared_step_entry(step: StepProgress) -> dict[str, Any]:
    """A step as the public share link shows it: progress only."""
    return {
        "stepNumber": step.step_number,
        "stepName": step.step_name,
        "completed": bool(step.validation_passed),
        "startedAt": iso_z(step.started_at),
        "completedAt": iso_z(step.completed_at),
        "timeSpent": step.time_spent or 0,
    }


def step_entry(step: StepProgress) -> dict[str, Any]:
    """A step as its session's token holder sees it: the shared entry, attempts and URL."""
    return {
        **shared_step_entry(step),
        "attempts": step.attempts or 0,
        "deploymentUrl": step.deployment_url,
    }


def _configuration_reply(session: WorkshopSession) -> dict[str, Any]:
    reply: dict[str, Any] = {}
    for field in SESSION_CONFIG:
        value = getattr(session, field.column)
        if field.is_secret:
            value = bool(value)
        elif field.kind is Kind.JSON_LIST:
            value = stored_json(value, list)
        elif field.kind is Kind.JSON_OBJECT:
            value = stored_json(value, dict)
        reply[field.reply_key] = value
    return reply


def session_body(session: WorkshopSession, *, instructor: bool = False) -> dict[str, Any]:
    """A session as its token holder (or an instructor) sees it: snake_case columns, the
    student, the steps in step order; never the API key (has_openai_api_key instead).

    Anonymous students show no email. The student's id and name only where
    selectors.reveals_student allows (an email is a claim, not a proof), or to instructors.
    """
    student = session.student
    revealed = instructor or selectors.reveals_student(session)
    return {
        "session_token": session.session_token,
        "student_id": str(student.student_id) if revealed else None,
        "student_email": None if student.is_anonymous else student.student_email,
        "student_name": student.student_name if revealed else None,
        "started_at": iso_z(session.started_at),
        "last_activity": iso_z(session.last_activity),
        "expires_at": iso_z(session.expires_at),
        "is_active": bool(session.is_active),
        "demo_mode": bool(session.demo_mode),
        "current_step": session.current_step or 0,
        "total_time_spent": session.total_time_spent or 0,
        "completion_rate": session.completion_rate or 0,
        **_configuration_reply(session),
        "bug_reports": stored_json(session.bug_reports, list),
        "created_at": iso_z(session.created_at),
        "updated_at": iso_z(session.updated_at),
        "step_progress": [step_entry(step) for step in session.steps.all()],
    }


def session_reply_json(*, session_token: str) -> str:
    """session_reply as JSON text: on PostgreSQL the function's own text, never parsed (the
    API's busiest read sends it as it comes); 404 when unknown."""
    if connection.vendor == "postgresql":
        text = db_functions.session_reply_text(session_token=session_token)
        if text is None:
            raise NotFoundError(SESSION_NOT_FOUND)
        return text
    return json.dumps(session_reply(session_token=session_token), separators=(",", ":"))


def session_reply(*, session_token: str) -> dict[str, Any]:
    """The reply for one session read by its token; 404 when unknown. One statement on
    PostgreSQL (the function), two on SQLite (selectors.session_progress)."""
    if connection.vendor == "postgresql":
        reply = db_functions.session_reply(session_token=session_token)
        if reply is None:
            raise NotFoundError(SESSION_NOT_FOUND)
        return reply
    return session_body(selectors.session_progress(session_token=session_token))
