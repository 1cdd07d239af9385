"""Writing events: the one way any part of the project adds to the audit trail.

Services call these explicitly, inside their own transaction (no model signals).
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analytics.integrations.models import OutboxMessage, Topic
from analytics.integrations.services import (
    EVENT_TOPICS,
    OutboxEntry,
    outbox_entries_for_events,
    record_outbox,
)
from analytics.integrations.services import (
    queue_dispatch_after_commit as queue_dispatch_after_commit,
)
from analytics.models import Event, EventType

# For a writer that inserts events and their outbox rows in SQL (progress/db_functions.py):
# the table and topics, and queue_dispatch_after_commit (imported above) for the ids it gets.
OUTBOX_TABLE = OutboxMessage._meta.db_table
SESSION_COMPLETED_TOPIC = Topic.SESSION_COMPLETED.value


def news_topics(event_types: Iterable[str]) -> dict[str, str]:
    """The outbox topic of each of these event types the outside world hears about
    (analytics.integrations.services.EVENT_TOPICS); the others are left out."""
    return {str(t): EVENT_TOPICS[str(t)].value for t in event_types if str(t) in EVENT_TOPICS}


@dataclass(frozen=True)
class NewEvent:
    event_type: EventType
    student_id: uuid.UUID | None = None
    session_token: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def session_completed_news(*, student_id: uuid.UUID, session_token: str) -> OutboxEntry:
    """News that is no event row, for record_events' also_notify: a progress write brought the
    session to 100 % for the first time."""
    return OutboxEntry(
        topic=Topic.SESSION_COMPLETED, student_id=student_id, session_token=session_token
    )


def record_event(
    *,
    event_type: EventType,
    student_id: uuid.UUID | None = None,
    session_token: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Event:
    event = NewEvent(event_type, student_id, session_token, dict(data or {}))
    return record_events([event])[0]


def record_events(
    events: Iterable[NewEvent],
    *,
    notify: bool = True,
    also_notify: Iterable[OutboxEntry] = (),
) -> list[Event]:
    """Several events in one INSERT; with `notify`, the outbox messages of those that other
    systems and instructors hear about (step_completed, bug_reported, ...) in one more INSERT,
    in the same transaction, plus `also_notify` (news that is no event: session_completed).
    Imports of past events pass notify=False."""
    events = list(events)
    rows = Event.objects.bulk_create(
        Event(
            event_type=event.event_type,
            student_id=event.student_id,
            session_id=event.session_token,
            event_data=dict(event.data),
        )
        for event in events
    )
    if notify:
        record_outbox([*outbox_entries_for_events(events), *also_notify])
    return rows


def move_session_events(*, session_token: str, student_id: uuid.UUID) -> int:
    """Re-own a session's events when the session changes student (an anonymous session
    claimed by a real student)."""
    return Event.objects.filter(session_id=session_token).update(student_id=student_id)
