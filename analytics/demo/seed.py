"""Demo data: realistic students, sessions, steps and events at any size.

Students spread over the 9 steps like a real workshop's funnel: most reach the first steps,
fewer the last; some finish, some are working right now, some have been idle for hours or
days, some sessions are demo-mode runs. They attended daily workshop runs; the first ones
are in a run in progress now, where some stall (with a failed deployment, a bug report or a
session-log error) so the help queue has something to show. Rows are written in chunks of
students (COPY on PostgreSQL, batched INSERTs on SQLite), so memory stays flat and 100,000
students take about a minute.

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
from workshop.models import WorkshopRun, anonymous_email
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
DEPLOY_ERRORS = (
    "Health check timed out",
    "Build failed: npm ERR! code ERESOLVE",
    "Port 8080 already in use",
    "Missing environment variable TWILIO_AUTH_TOKEN",
)
LOG_ERRORS = (
    "WebSocket connection to the relay closed (1006)",
    "Twilio error 11200: HTTP retrieval failure",
    "OpenAI request failed: 429 rate limit",
)
FEEDBACK = (
    "Great pace, the deployment step was the hardest.",
    "Loved building the voice agent!",
    "More time for the tools step, please.",
    "",
)
# Event types the frontend's own calls write (feedback, session log).
FEEDBACK_SUBMITTED = EventType.FEEDBACK_SUBMITTED
SESSION_LOG = EventType.SESSION_LOG
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


@dataclass(frozen=True)
class _Slot:
    """Where a demo session happens: its run's window, and the moment its student stops
    (the run's end, or for the run in progress now: now, or earlier when they stalled)."""

    starts_at: datetime
    stop_at: datetime
    live: bool = False
    stalled: bool = False


# The story: one three-hour workshop run every day for the past PAST_RUNS days, and one in
# progress now (started LIVE_RUN_AGE ago) where some students are stalling right now, so the
# help queue has something to show after `make run`.
PAST_RUNS = 13
RUN_LENGTH = timedelta(hours=3)
LIVE_RUN_AGE = timedelta(minutes=75)
LIVE_STUDENTS = 60
# Share of the live run's students idle for 11 to 45 minutes on an unfinished step.
LIVE_STALLED = 0.3


def seed_demo_data(
    *,
    students: int,
    seed: int | None = None,
    chunk_size: int = 2_000,
    live_students: int = LIVE_STUDENTS,
    progress: Callable[[DemoSummary], None] | None = None,
) -> DemoSummary:
    """Add `students` demo students with their sessions, steps and events, and the workshop
    runs they attended: the first `live_students` are in the run in progress now."""
    rng = random.Random(seed)
    now = timezone.now()
    # Identities are always fresh, so seeding twice (even with one --seed) never collides;
    # the seed fixes the shape of the data.
    run_id = uuid.uuid4().hex[:8]
    live_run, past_runs = _create_runs(now)
    summary = DemoSummary()
    for start in range(0, students, chunk_size):
        chunk = _Chunk()
        for index in range(start, min(start + chunk_size, students)):
            if index < live_students:
                stalled = rng.random() < LIVE_STALLED
                stop_at = now - (
                    timedelta(minutes=rng.uniform(11, 45))
                    if stalled
                    else timedelta(seconds=rng.randint(5, 240))
                )
                slot = _Slot(live_run.starts_at, stop_at, live=True, stalled=stalled)
            else:
                run = rng.choice(past_runs)
                slot = _Slot(run.starts_at, run.ends_at + timedelta(minutes=15))
            _add_student(chunk, rng, now, f"{run_id}-{index}", slot)
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


def _run_name(start: datetime) -> str:
    return f"Voice AI workshop, {timezone.localtime(start):%a %d %b}"


def _create_runs(now: datetime):
    """The run in progress now and PAST_RUNS earlier ones, one a day, newest first."""
    live_start = (now - LIVE_RUN_AGE).replace(second=0, microsecond=0)
    live = WorkshopRun.objects.create(
        name="Voice AI workshop (live demo)",
        starts_at=live_start,
        ends_at=live_start + RUN_LENGTH,
        location="Room 2.14 · https://meet.example.com/voice-ai",
    )
    past = [
        WorkshopRun.objects.create(
            name=_run_name(live_start - timedelta(days=day)),
            starts_at=live_start - timedelta(days=day),
            ends_at=live_start - timedelta(days=day) + RUN_LENGTH,
            location=("Berlin, Room 2.14" if day % 2 else "https://meet.example.com/voice-ai"),
        )
        for day in range(1, PAST_RUNS + 1)
    ]
    return live, past


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


def _add_student(chunk: _Chunk, rng: random.Random, now: datetime, key: str, slot: _Slot) -> None:
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
    # Students start within the run's first 25 minutes; some of those in past runs opened a
    # second session later in the same run (a new browser, a lost token).
    started_at = slot.starts_at + timedelta(seconds=rng.randint(0, 25 * 60))
    _add_session(chunk, rng, now, student_id, f"{key}-0", slot, started_at)
    if not slot.live and rng.random() < 0.4:
        again = started_at + timedelta(minutes=rng.randint(20, 90))
        _add_session(chunk, rng, now, student_id, f"{key}-1", slot, again)


def _add_session(
    chunk: _Chunk,
    rng: random.Random,
    now: datetime,
    student_id: uuid.UUID,
    key: str,
    slot: _Slot,
    started_at: datetime,
) -> None:
    """One session: steps one after another from `started_at` until the student stops (the
    funnel decides how far they would get; `slot.stop_at` may cut the step they are on).
    Every event happens at the moment its row says, never after the session's last
    activity, never in the future."""
    # Everybody touches step 1 (at least a minute before they stop).
    started_at = min(started_at, slot.stop_at - timedelta(minutes=1))
    target = 1
    while target < TOTAL_STEPS and rng.random() < REACH[target] / REACH[target - 1]:
        target += 1
    # Everything before the step reached is done; the step reached is done for some.
    finished_last = rng.random() < (0.75 if target == TOTAL_STEPS else 0.3)
    token = f"ws_demo_{key}_{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
    events: list[tuple[str, datetime, dict]] = [(EventType.SESSION_CREATED, started_at, {})]
    clock = started_at
    completed = reached = 0
    first_step = len(chunk.steps)
    for step in STEPS[:target]:
        if step.number > 1 and clock >= slot.stop_at:
            break
        reached = step.number
        attempts = 1 + (rng.random() < 0.3) * rng.randint(1, 4)
        seconds = int(STEP_SECONDS[step.number - 1] * rng.uniform(0.4, 2.2))
        step_start = clock
        cut = step_start + timedelta(seconds=seconds) > slot.stop_at
        if cut:
            # Still on this step when they stopped: time so far, never validated.
            seconds = max(int((slot.stop_at - step_start).total_seconds()), 1)
            attempts = max(1, min(attempts, seconds // 120 + 1))
        clock = step_start + timedelta(seconds=seconds)
        passed = not cut and (step.number < target or finished_last)
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
                    {EVENT_STEP_KEY: step.number, "error": rng.choice(DEPLOY_ERRORS)},
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
        if cut:
            break
    last_activity = clock
    # (step_number, validation_passed, time_spent) of the rows just built.
    totals = totals_from_steps((row[2], row[8], row[6]) for row in chunk.steps[first_step:])
    bug_reports = []
    # Stalled students of the live run show why: a failed deployment, a bug report or an
    # error in their session log (often more than one).
    stalled_now = slot.stalled and completed < reached
    if stalled_now and rng.random() < 0.45:
        events.append(
            (
                EventType.DEPLOYMENT_FAILURE,
                last_activity,
                {EVENT_STEP_KEY: reached, "error": rng.choice(DEPLOY_ERRORS)},
            )
        )
    if stalled_now and rng.random() < 0.4:
        events.append(
            (
                SESSION_LOG,
                last_activity,
                {
                    EVENT_STEP_KEY: reached,
                    "logType": "error",
                    "data": {"message": rng.choice(LOG_ERRORS)},
                },
            )
        )
    if rng.random() < (0.4 if stalled_now else 0.06):
        bug = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "description": rng.choice(BUG_TEXTS),
            "step": reached,
            "createdAt": last_activity.isoformat().replace("+00:00", "Z"),
        }
        bug_reports.append(bug)
        events.append(
            (
                EventType.BUG_REPORTED,
                last_activity,
                {"bugReportId": bug["id"], EVENT_STEP_KEY: reached},
            )
        )
    if not slot.live and completed == TOTAL_STEPS and rng.random() < 0.6:
        events.append(
            (
                FEEDBACK_SUBMITTED,
                last_activity,
                {"rating": rng.choice((3, 4, 4, 5, 5, 5)), "message": rng.choice(FEEDBACK)},
            )
        )
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
    chunk.events.extend(
        (student_id, token, str(event_type), json.dumps(data), at)
        for event_type, at, data in events
    )
