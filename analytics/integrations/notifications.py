"""Instructor e-mail: who gets which kind, and what it says.

Recipients are the instructors of the session's workshop run when there is one, else the
addresses in settings.INSTRUCTOR_EMAILS; an instructor who switched a kind off (their
NotificationPreference) is left out. Student text goes into the HTML part through Django's
autoescaping and into the plain-text part stripped of control characters, so it can neither
inject markup nor headers.
"""

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.urls import reverse

from analytics.integrations.models import NotificationKind, OutboxMessage
from analytics.integrations.payloads import build_data
from workshop.models import WorkshopRun, WorkshopSession
from workshop.runs import instructors_of_session

SUBJECT_PREFIX = "[Workshop Progress] "
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def plain(value: Any, limit: int | None = None, *, one_line: bool = False) -> str:
    """Student text for a plain-text part or (one_line) a subject: no control characters (a
    newline in a subject would be a header injection), optionally shortened."""
    text = _CONTROL.sub(" ", "" if value is None else str(value))
    if one_line:
        text = text.replace("\n", " ").replace("\t", " ")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_tree(item) for item in value]
    if isinstance(value, str):
        return plain(value)
    return value


def configured_instructors(*, message: OutboxMessage) -> list[str]:
    """Addresses that should hear about this message, before preferences: the instructors of
    the run (the session's, or the run a summary is about), else INSTRUCTOR_EMAILS."""
    instructors: list = []
    run_id = (message.data or {}).get("run", {}).get("id") if message.data else None
    if run_id is not None:
        run = WorkshopRun.objects.filter(pk=run_id).first()
        instructors = list(run.instructors.filter(is_active=True)) if run else []
    elif message.session_token:
        session = WorkshopSession.objects.filter(pk=message.session_token).first()
        instructors = instructors_of_session(session) if session else []
    addresses = [user.email for user in instructors if user.email]
    return addresses or list(settings.INSTRUCTOR_EMAILS)


def recipients(*, kind: str, message: OutboxMessage) -> list[str]:
    addresses = {address.strip().lower() for address in configured_instructors(message=message)}
    addresses.discard("")
    if not addresses:
        return []
    switched_off = {
        email.lower()
        for email in get_user_model()
        .objects.filter(**{f"notification_preference__{kind}": False})
        .exclude(email="")
        .values_list("email", flat=True)
    }
    return sorted(addresses - switched_off)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _who(student: dict[str, Any] | None) -> str:
    if not student:
        return "a student"
    return student.get("name") or student.get("email") or "an anonymous student"


def render(*, kind: str, message: OutboxMessage) -> RenderedEmail:
    data = build_data(message)
    context = {
        "data": data,
        "message": message,
        "who": _who(data.get("student")),
        "settings_url": settings.SITE_URL + reverse("integrations:notifications"),
    }
    if kind == NotificationKind.BUG_REPORT:
        report = data.get("bug_report") or {}
        subject = f"Bug report from {_who(data.get('student'))}: {report.get('description') or ''}"
    elif kind == NotificationKind.STUCK_STUDENT:
        step = data.get("step") or {}
        subject = f"{_who(data.get('student'))} is stuck on step {step.get('number', '?')}"
    elif kind == NotificationKind.SESSION_COMPLETED:
        subject = f"{_who(data.get('student'))} finished the workshop"
    else:
        run = data.get("run") or {}
        subject = f"Summary of {run.get('name') or 'the workshop run'}"
    text_context = {**context, "data": _plain_tree(data), "who": plain(context["who"])}
    text = render_to_string(f"integrations/email/{kind}.txt", text_context)
    html = render_to_string(f"integrations/email/{kind}.html", context)
    return RenderedEmail(
        subject=SUBJECT_PREFIX + plain(subject, 150, one_line=True), text=text, html=html
    )
