"""Writing events: the one way any part of the project adds to the audit trail.

Services call these explicitly, inside their own transaction (no model signals).
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analytics.models import Event, EventType


@dataclass(frozen=True)
class NewEvent:
    event_type: EventType
    student_id: uuid.UUID | None = None
    session_token: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def record_event(
    *,
    event_type: EventType,
    student_id: uuid.UUID | None = None,
    session_token: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Event:
    return Event.objects.create(
        event_type=event_type,
        student_id=student_id,
        session_id=session_token,
        event_data=dict(data or {}),
    )


def record_events(events: Iterable[NewEvent]) -> list[Event]:
    """Several events in one INSERT."""
    return Event.objects.bulk_create(
        Event(
            event_type=event.event_type,
            student_id=event.student_id,
            session_id=event.session_token,
            event_data=dict(event.data),
        )
        for event in events
    )


def move_session_events(*, session_token: str, student_id: uuid.UUID) -> int:
    """Re-own a session's events when the session changes student (an anonymous session
    claimed by a real student)."""
    return Event.objects.filter(session_id=session_token).update(student_id=student_id)
