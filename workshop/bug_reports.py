"""Bug reports of a session (the JSON list in sessions.bug_reports): which are open, and
closing one. An entry is open until an instructor closes it (`status: "closed"`, `closedBy`,
`closedAt` are added to the entry; nothing else of it changes)."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from workshop.errors import NotFoundError
from workshop.models import stored_json
from workshop.services import lock_session

CLOSED = "closed"
BUG_REPORT_NOT_FOUND = "No bug report with this id in the session."


def report_entries(value: Any) -> list[dict]:
    """The column's entries that are objects (legacy rows may hold other JSON, or a string)."""
    return [entry for entry in stored_json(value, list) if isinstance(entry, dict)]


def is_open(entry: dict) -> bool:
    return entry.get("status") != CLOSED


def open_reports(value: Any) -> list[dict]:
    return [entry for entry in report_entries(value) if is_open(entry)]


def report_text(entry: dict) -> str:
    """What the student wrote, in one line: description, else the error or title."""
    for key in ("description", "errorMessage", "message", "title", "actualBehavior"):
        text = entry.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()
    return "(no description)"


@transaction.atomic
def close_bug_report(*, session_token: str, report_id: str, closed_by: str) -> dict:
    """Mark one bug report of the session closed, under the session row's lock so a report
    appended at the same moment is kept. Closing a closed report changes nothing."""
    session = lock_session(session_token=session_token)
    entries = session.bug_reports if isinstance(session.bug_reports, list) else []
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("id")) == str(report_id):
            if is_open(entry):
                entry.update(
                    status=CLOSED,
                    closedBy=closed_by,
                    closedAt=timezone.now().isoformat().replace("+00:00", "Z"),
                )
                session.save(update_fields=["bug_reports"])
            return entry
    raise NotFoundError(BUG_REPORT_NOT_FOUND)
