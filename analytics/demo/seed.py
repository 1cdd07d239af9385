"""Demo data: realistic students, sessions, steps and events at any size.

Students spread over the 9 steps like a real workshop's funnel: most reach the first steps,
fewer the last; some finish, some are working right now, some have been idle for hours or
days, some sessions are demo-mode runs. Rows are written in chunks of students (COPY on
PostgreSQL, batched INSERTs on SQLite), so memory stays flat and 100,000 students take
about a minute.

Session totals (completion_rate, total_time_spent, current_step) follow the same rule as
progress.totals (totals_from_steps), so the dashboards show consistent numbers.
"""

import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from analytics.models import EVENT_STEP_KEY, EventType
from progress.totals import totals_from_steps
from workshop.models import anonymous_email
from workshop.steps import STEPS, TOTAL_STEPS

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Radia",
    "Tim",
    "Katherine",
    "Guido",
    "Frances",
    "Edsger",
    "Hedy",
    "John",
    "Annie",
    "Donald",
    "Shafi",
    "Leslie",
    "Sophie",
    "Yukihiro",
    "Anita",
    "Rasmus",
    "Jean",
    "Niklaus",
    "Lynn",
    "Bjarne",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "Rossum",
    "Allen",
    "Dijkstra",
    "Lamarr",
    "McCarthy",
    "Easley",
    "Knuth",
    "Goldwasser",
    "Lamport",
    "Wilson",
    "Matsumoto",
    "Borg",
    "Lerdorf",
    "Sammet",
    "Wirth",
    "Conway",
    "Stroustrup",
)
USE_CASES = (
    "Restaurant reservations by phone",
    "Dental clinic appointment reminders",
    "Order status hotline for an online shop",
    "After-hours IT help desk",
    "Hotel concierge that books taxis",
    "Pharmacy refill line",
)
VOICES = ("Polly.Joanna-Neural", "Polly.Matthew-Neural", "en-US-Journey-F", "en-US-Neural2-D")
BUG_TEXTS = (
    "Webhook returns 502 after deploying",
    "No audio on the call after the greeting",
    "ConversationRelay closes right after connecting",
    "Tool call never returns to the model",
)

# Probability that a session reaches step n (index n-1): the funnel's shape.
REACH = (1.0, 0.93, 0.86, 0.76, 0.64, 0.53, 0.44, 0.36, 0.30)
# Typical seconds spent on each step.
STEP_SECONDS = (240, 180, 420, 600, 900, 840, 540, 720, 660)


STUDENT_COLUMNS = ("student_id", "student_email", "student_name", "github_username")
SESSION_COLUMNS = (
    "session_token",
    "student_id",
    "started_at",
    "last_activity",
    "expires_at",
    "is_active",
    "demo_mode",
    "current_step",
    "total_time_spent",
    "completion_rate",
    "use_case_description",
    "call_direction",
    "tts_provider",
    "selected_voice",
    "system_prompt",
    "bug_reports",
    "created_at",
)
STEP_COLUMNS = (
    "session_token",
    "student_id",
    "step_number",
    "step_name",
    "started_at",
    "completed_at",
    "time_spent",
    "attempts",
    "validation_passed",
    "deployment_url",
    "created_at",
)
EVENT_COLUMNS = ("student_id", "session_token", "event_type", "event_data", "created_at")


@dataclass
class DemoSummary:
    students: int = 0
    sessions: int = 0
    steps: int = 0
    events: int = 0


@dataclass
class _Chunk:
    students: list[tuple] = field(default_factory=list)
    sessions: list[tuple] = field(default_factory=list)
    steps: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)


def seed_demo_data(
    *,
    students: int,
    seed: int | None = None,
    chunk_size: int = 2_000,
    progress: Callable[[DemoSummary], None] | None = None,
) -> DemoSummary:
    """Add `students` demo students with their sessions, steps and events."""
    rng = random.Random(seed)
    now = timezone.now()
    # Identities are always fresh, so seeding twice (even with one --seed) never collides;
    # the seed fixes the shape of the data.
    run_id = uuid.uuid4().hex[:8]
    summary = DemoSummary()
    for start in range(0, students, chunk_size):
        chunk = _Chunk()
        for index in range(start, min(start + chunk_size, students)):
            _add_student(chunk, rng, now, f"{run_id}-{index}")
        with transaction.atomic():
            _insert("students", STUDENT_COLUMNS, chunk.students)
            _insert("sessions", SESSION_COLUMNS, chunk.sessions)
            _insert("step_progress", STEP_COLUMNS, chunk.steps)
            _insert("events", EVENT_COLUMNS, chunk.events)
        summary.students += len(chunk.students)
        summary.sessions += len(chunk.sessions)
        summary.steps += len(chunk.steps)
        summary.events += len(chunk.events)
        if progress is not None:
            progress(summary)
    return summary


def _insert(table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Bulk-write plain rows: the ORM's per-object work would dominate at 100,000 students."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
            [tuple(_adapt_for_sqlite(value) for value in row) for row in rows],
        )


def _adapt_for_sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def _add_student(chunk: _Chunk, rng: random.Random, now: datetime, key: str) -> None:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    anonymous = rng.random() < 0.04
    student_id = uuid.uuid4()
    chunk.students.append(
        (
            student_id,
            anonymous_email(f"demo-{key}")
            if anonymous
            else f"{first}.{last}.{key}@example.com".lower(),
            None if anonymous else f"{first} {last}",
            None if anonymous else f"{first}{last}{key[-4:]}".lower(),
        )
    )
    # Half of the students come back for a second session.
    for number in range(1 if rng.random() < 0.5 else 2):
        _add_session(chunk, rng, now, student_id, f"{key}-{number}")


def _add_session(
    chunk: _Chunk, rng: random.Random, now: datetime, student_id: uuid.UUID, key: str
) -> None:
    started_at = now - timedelta(minutes=rng.randint(20, 14 * 24 * 60))
    reached = 1
    while reached < TOTAL_STEPS and rng.random() < REACH[reached] / REACH[reached - 1]:
        reached += 1
    # Everything before the step reached is done; the step reached is done for some.
    finished_last = rng.random() < (0.75 if reached == TOTAL_STEPS else 0.3)
    token = f"ws_demo_{key}_{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
    events: list[tuple[str, datetime, dict]] = [(EventType.SESSION_CREATED, started_at, {})]
    clock = started_at
    first_step = len(chunk.steps)
    for step in STEPS[:reached]:
        passed = step.number < reached or finished_last
        attempts = 1 + (rng.random() < 0.3) * rng.randint(1, 4)
        seconds = int(STEP_SECONDS[step.number - 1] * rng.uniform(0.4, 2.2))
        step_start = clock
        clock += timedelta(seconds=seconds)
        deployment_url = None
        events.append((EventType.STEP_STARTED, step_start, {EVENT_STEP_KEY: step.number}))
        for attempt in range(attempts):
            at = step_start + (clock - step_start) * (attempt + 1) / attempts
            events.append(
                (EventType.STEP_PROGRESS, at, {EVENT_STEP_KEY: step.number, "attempt": attempt + 1})
            )
        if step.number >= 4 and rng.random() < 0.15:
            events.append(
                (
                    EventType.DEPLOYMENT_FAILURE,
                    clock,
                    {EVENT_STEP_KEY: step.number, "error": "Health check timed out"},
                )
            )
        if passed:
            events.append((EventType.STEP_COMPLETED, clock, {EVENT_STEP_KEY: step.number}))
            if step.number >= 4:
                deployment_url = f"https://{token[-12:]}-step{step.number}.example.app"
                events.append(
                    (
                        EventType.DEPLOYMENT_SUCCESS,
                        clock,
                        {EVENT_STEP_KEY: step.number, "url": deployment_url},
                    )
                )
        chunk.steps.append(
            (
                token,
                student_id,
                step.number,
                step.title,
                step_start,
                clock if passed else None,
                seconds,
                attempts,
                passed,
                deployment_url,
                step_start,
            )
        )
    # (step_number, validation_passed, time_spent) of the rows just built.
    totals = totals_from_steps((row[2], row[8], row[6]) for row in chunk.steps[first_step:])
    bug_reports = []
    if rng.random() < 0.08:
        bug = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "description": rng.choice(BUG_TEXTS),
            "step": reached,
            "createdAt": clock.isoformat(),
        }
        bug_reports.append(bug)
        events.append(
            (EventType.BUG_REPORTED, clock, {"bugReportId": bug["id"], EVENT_STEP_KEY: reached})
        )

    # Some are working right now, the rest went idle some time after their last step.
    if rng.random() < 0.15:
        last_activity = now - timedelta(seconds=rng.randint(5, 20 * 60))
    else:
        last_activity = min(clock, now - timedelta(minutes=rng.randint(21, 3 * 24 * 60)))
    last_activity = max(last_activity, started_at)
    expires_at = last_activity + timedelta(hours=24)
    # The daily cleanup has deactivated what expired before its last run (12 h ago, say); what
    # expired since is still active: the sessions the spec's 24-hour stuck query finds.
    is_active = expires_at > now - timedelta(hours=12)
    chunk.sessions.append(
        (
            token,
            student_id,
            started_at,
            last_activity,
            expires_at,
            is_active,
            rng.random() < 0.1,
            totals.current_step,
            totals.total_time_spent,
            totals.completion_rate,
            rng.choice(USE_CASES),
            rng.choice(("inbound", "outbound")),
            "ElevenLabs" if rng.random() < 0.3 else "Google",
            rng.choice(VOICES),
            "You are a friendly voice assistant. Keep answers short.",
            json.dumps(bug_reports),
            started_at,
        )
    )
    # Events never claim to be later than the session's last activity.
    chunk.events.extend(
        (student_id, token, str(event_type), json.dumps(data), min(at, last_activity))
        for event_type, at, data in events
    )
