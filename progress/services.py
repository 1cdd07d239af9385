"""Writes to step progress and the session totals derived from it: the API's use cases.

Each public function is one use case owning its transaction: the session row is locked (or
freshly inserted) first, so parallel writers of one session run one after the other and its
totals cannot be lost; rows are created through the unique constraints, counters move with
F() expressions, and the events of the call are written in the same transaction.
"""

import datetime as dt
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import BigIntegerField, F, Value
from django.db.models.functions import Cast, Coalesce, Least
from django.utils import timezone

from analytics.events import (
    NewEvent,
    move_session_events,
    queue_dispatch_after_commit,
    record_event,
    record_events,
    session_completed_news,
)
from analytics.models import EVENT_STEP_KEY, EventType
from progress import activity, db_functions, replies, selectors, totals
from progress.models import StepProgress, StudentCreator
from workshop import services as workshop_services
from workshop.crypto import SecretDecryptionError, decrypt_secret
from workshop.errors import (
    SESSION_BELONGS_TO_ANOTHER_STUDENT,
    SESSION_CLOSED,
    SESSION_NOT_FOUND,
    ConflictError,
    GoneError,
    NotFoundError,
)
from workshop.expiry import activity_changes, session_lifetime
from workshop.expressions import SqlNow
from workshop.models import Student, WorkshopSession, normalize_email
from workshop.names import usable_student_name
from workshop.steps import step_title


@dataclass(frozen=True)
class StepUpdate:
    """One update of one step, as the frontend posts it (already validated)."""

    step_number: int
    step_name: str | None = None
    completed: bool = False
    # Seconds the client measured; 0 (the real frontend always sends 0) lets the server
    # measure the time itself (progress.activity).
    time_spent: int = 0
    code_submitted: str | None = None
    deployment_url: str | None = None


# wp_record_progress's refusals (its SQLSTATEs) as the API's errors: nothing was written.
_REFUSALS = {
    db_functions.SESSION_NOT_FOUND_STATE: (NotFoundError, SESSION_NOT_FOUND),
    db_functions.SESSION_TAKEN_STATE: (ConflictError, SESSION_BELONGS_TO_ANOTHER_STUDENT),
    db_functions.SESSION_CLOSED_STATE: (GoneError, SESSION_CLOSED),
}


@dataclass(frozen=True)
class StepWrite:
    created: bool
    first_completion: bool
    attempts: int
    time_added: int
    heartbeat: bool = False


def _record_creator(*, student, session: WorkshopSession) -> None:
    """This session created this identified student: its token holder may see the id."""
    StudentCreator.objects.create(student_id=student.pk, session_id=session.pk)


def _claim_session(*, session: WorkshopSession, email: str, name: str | None) -> None:
    """Give an anonymous student's session to the student with this real address.

    The rule, the simplest that is always correct: the real student is found or created, the
    session, its steps and its events move to them, and the anonymous student is deleted once
    it owns no session any more.
    """
    anonymous_id = session.student_id
    student, created = workshop_services.find_or_create_student(email=email, name=name)
    if created:
        _record_creator(student=student, session=session)
    WorkshopSession.objects.filter(pk=session.pk).update(student=student)
    StepProgress.objects.filter(session_id=session.pk).update(student=student)
    move_session_events(session_token=session.pk, student_id=student.pk)
    session.student = student
    workshop_services.delete_student_if_unused(student_id=anonymous_id)


def _open_session(
    *,
    session_token: str,
    email: str | None,
    name: str | None,
    demo_mode: bool | None,
) -> tuple[WorkshopSession, bool]:
    """The session of a progress POST, locked or freshly inserted, owned by the right student.

    Returns (session, created). 409 when the token belongs to another identified student,
    410 when the session no longer accepts writes; in both cases nothing has been written.
    """
    session = workshop_services.find_locked_session(session_token=session_token)
    if session is None:
        student, created = None, False
        if email:
            student, created = workshop_services.find_or_create_student(email=email, name=name)
        session = workshop_services.insert_session(
            session_token=session_token, student=student, name=name, demo_mode=demo_mode
        )
        if session is not None:
            if created:
                _record_creator(student=student, session=session)
            return session, True
        # Another request inserted it first: wait for its lock, then carry on as an update.
        session = workshop_services.lock_session(session_token=session_token)
    if not session.accepts_progress:
        raise GoneError(SESSION_CLOSED)
    if not email:
        return session, False
    owner = session.student
    if owner.student_email == normalize_email(email):
        # The same student. An email is a claim, not a proof: a name never replaces the
        # stored one; only the session that created the student may fill a missing name
        # (the frontend sends the email before the name).
        if name and not owner.student_name and selectors.reveals_student(session):
            Student.objects.filter(pk=owner.pk, student_name__isnull=True).update(student_name=name)
            owner.student_name = name
    elif owner.is_anonymous:
        _claim_session(session=session, email=email, name=name)
    else:
        raise ConflictError(SESSION_BELONGS_TO_ANOTHER_STUDENT)
    return session, False


# The unique constraint decides whether this call creates the step's row; RETURNING says
# whether it did. One statement, no savepoint; PostgreSQL and SQLite >= 3.35 alike.
_INSERT_STEP_SQL = """
INSERT INTO step_progress (session_token, student_id, step_number, step_name, attempts,
                           time_spent, validation_passed, completed_at, code_submitted,
                           deployment_url)
VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s, %s)
ON CONFLICT (session_token, step_number) DO NOTHING
RETURNING id
"""


def _insert_step_if_absent(
    *, session: WorkshopSession, update: StepUpdate, now: dt.datetime
) -> bool:
    field = StepProgress._meta.get_field
    params = [
        session.pk,
        field("student").target_field.get_db_prep_value(session.student_id, connection),
        update.step_number,
        update.step_name or step_title(update.step_number),
        update.time_spent,
        update.completed,
        field("completed_at").get_db_prep_value(now if update.completed else None, connection),
        update.code_submitted,
        update.deployment_url,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_STEP_SQL, params)
        return cursor.fetchone() is not None


def _write_step(*, session: WorkshopSession, created: bool, update: StepUpdate) -> StepWrite:
    """Insert or update the session's row for this step, relying on the unique constraint.

    A real update: attempts +1, time added (the client's, or measured by the server),
    completion sticky (completed_at is the first completion), code and URL replaced only when
    given. A heartbeat (progress.activity) adds only the measured time. Every write stamps
    the row's updated_at: the moment the session was last seen on this step.

    The prior read of the session's step rows (at most nine, one query) decides the events
    and the measured time; it runs after the session lock was granted (so it sees every
    earlier writer's commit) and no other writer of this session runs until this
    transaction ends.
    """
    now = timezone.now()
    rows = []
    if not created:
        # The database's clock (db_now) measures the time: it is the clock that stamps
        # updated_at (the PostgreSQL trigger), so consecutive gaps add up exactly.
        rows = list(
            StepProgress.objects.filter(session_id=session.pk)
            .annotate(db_now=SqlNow())
            .values("step_number", "validation_passed", "attempts", "updated_at", "db_now")
        )
    before = next((row for row in rows if row["step_number"] == update.step_number), None)
    if before is None:
        if _insert_step_if_absent(session=session, update=update, now=now):
            return StepWrite(
                created=True,
                first_completion=update.completed,
                attempts=1,
                time_added=update.time_spent,
            )
        # A writer that does not lock the session (an operator's script) got there first:
        # the unique constraint said so; update its row instead.
        before = {"validation_passed": False, "attempts": 0}
    first_completion = update.completed and not before["validation_passed"]
    db_now = rows[0]["db_now"] if rows else None
    time_added = update.time_spent
    if not time_added and db_now is not None:
        time_added = activity.measured_seconds(
            last_seen=activity.last_seen_on_step(rows, update.step_number), now=db_now
        )
    heartbeat = activity.is_heartbeat(
        step_started=True,
        first_completion=first_completion,
        time_sent=update.time_spent,
        code_submitted=update.code_submitted,
        deployment_url=update.deployment_url,
    )
    # The trigger stamps updated_at on PostgreSQL; SQLite has none, so it is set here.
    changes: dict[str, Any] = {"updated_at": db_now or SqlNow()}
    if time_added:
        # Added as bigint, then capped: a step's time saturates rather than overflow.
        changes["time_spent"] = Least(
            Cast(Coalesce(F("time_spent"), 0), BigIntegerField()) + time_added,
            totals.MAX_SECONDS,
        )
    if update.step_name:
        changes["step_name"] = update.step_name
    if not heartbeat:
        changes["attempts"] = Coalesce(F("attempts"), 0) + 1
        changes["student_id"] = session.student_id
        if update.completed:
            changes["validation_passed"] = True
            changes["completed_at"] = Coalesce(F("completed_at"), Value(now))
        if update.code_submitted is not None:
            changes["code_submitted"] = update.code_submitted
        if update.deployment_url is not None:
            changes["deployment_url"] = update.deployment_url
    StepProgress.objects.filter(session_id=session.pk, step_number=update.step_number).update(
        **changes
    )
    return StepWrite(
        created=False,
        first_completion=first_completion,
        attempts=(before["attempts"] or 0) + (0 if heartbeat else 1),
        time_added=time_added,
        heartbeat=heartbeat,
    )


def _step_events(
    *, session: WorkshopSession, update: StepUpdate, write: StepWrite
) -> list[NewEvent]:
    def event(event_type: EventType, **data: Any) -> NewEvent:
        return NewEvent(
            event_type=event_type,
            student_id=session.student_id,
            session_token=session.pk,
            data={EVENT_STEP_KEY: update.step_number, **data},
        )

    if write.heartbeat:
        return []
    events = []
    if write.created:
        events.append(event(EventType.STEP_STARTED))
    events.append(
        event(
            EventType.STEP_PROGRESS,
            timeSpent=write.time_added,
            completed=update.completed,
            attempts=write.attempts,
        )
    )
    if write.first_completion:
        events.append(event(EventType.STEP_COMPLETED))
    if update.deployment_url is not None:
        events.append(event(EventType.DEPLOYMENT_SUCCESS, url=update.deployment_url))
    return events


def record_progress(
    *,
    session_token: str,
    email: str | None = None,
    name: str | None = None,
    demo_mode: bool | None = None,
    step: StepUpdate | None = None,
) -> dict[str, Any]:
    """The progress POST. Returns the session as written, as its token holder sees it
    (progress.replies), read inside the write's transaction: a reply read after the commit
    could fail and tell the client that a committed write did not happen.

    On PostgreSQL one statement, the database function; elsewhere the Python rule."""
    if connection.vendor == "postgresql":
        return _record_progress_in_database(
            session_token=session_token, email=email, name=name, demo_mode=demo_mode, step=step
        )
    session = record_progress_in_python(
        session_token=session_token, email=email, name=name, demo_mode=demo_mode, step=step
    )
    return replies.session_body(session)


def _record_progress_in_database(
    *,
    session_token: str,
    email: str | None,
    name: str | None,
    demo_mode: bool | None,
    step: StepUpdate | None,
) -> dict[str, Any]:
    """wp_record_progress (progress/db_functions.py), given what the Python rules decide: the
    normalised email, the usable name, the step's names, the idle limit and the lifetime."""
    step_params = [None, None, None, False, 0, None, None]
    if step is not None:
        step_params = [
            step.step_number,
            step.step_name or None,  # sent: it renames the row
            step.step_name or step_title(step.step_number),  # a new row's name
            bool(step.completed),
            step.time_spent or 0,
            step.code_submitted,
            step.deployment_url,
        ]
    params = [
        session_token,
        normalize_email(email) if email else None,
        usable_student_name(name) or None,
        demo_mode,
        *step_params,
        activity.idle_limit(),
        session_lifetime(),
    ]
    # Inside a caller's transaction a refusal must not abort it: a savepoint. Alone
    # (autocommit, the API) the statement is its own transaction: no BEGIN/COMMIT.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            result = db_functions.record_progress(params)
    except DatabaseError as exc:
        refusal = _REFUSALS.get(getattr(exc.__cause__, "sqlstate", None))
        if refusal is None:
            raise
        error, message = refusal
        raise error(message) from None
    # The outbox rows it wrote are dispatched after the commit, as record_outbox's are.
    queue_dispatch_after_commit(result["outbox"])
    return result["reply"]


@transaction.atomic
def record_progress_in_python(
    *,
    session_token: str,
    email: str | None = None,
    name: str | None = None,
    demo_mode: bool | None = None,
    step: StepUpdate | None = None,
) -> WorkshopSession:
    """The progress POST's rule in Python, the SQLite implementation (on PostgreSQL the
    database function progress.db_functions.wp_record_progress is; a test runs both on the
    same cases): find or create the student and session, apply one step update, recalculate
    the session and write the events, all in one transaction.

    Returns the session as written, with its student and steps (progress.selectors), read
    inside the transaction: a reply read after the commit could fail (the database going
    away) and tell the client that a committed write did not happen.
    """
    session, created = _open_session(
        session_token=session_token,
        email=email,
        name=usable_student_name(name),
        demo_mode=demo_mode,
    )
    events: list[NewEvent] = []
    news = []
    if created:
        events.append(
            NewEvent(
                event_type=EventType.SESSION_CREATED,
                student_id=session.student_id,
                session_token=session.pk,
            )
        )
    now = timezone.now()
    if not created and demo_mode is not None and demo_mode != session.demo_mode:
        WorkshopSession.objects.filter(pk=session.pk).update(demo_mode=demo_mode)
    if step is not None:
        write = _write_step(session=session, created=created, update=step)
        events.extend(_step_events(session=session, update=step, write=write))
        rate = totals.refresh_totals(session_token=session.pk, last_activity=now)
        # Completion is sticky, so the step whose first completion makes 100 finishes the
        # session, once.
        if write.first_completion and rate == 100:
            news.append(
                session_completed_news(student_id=session.student_id, session_token=session.pk)
            )
    elif not created:
        WorkshopSession.objects.filter(pk=session.pk).update(**activity_changes(now))
    if events:
        record_events(events, also_notify=news)
    return selectors.session_progress(session_token=session.pk)


@transaction.atomic
def start_session(
    *, student_email: str | None, student_name: str | None, demo_mode: bool = False
) -> WorkshopSession:
    """POST /api/sessions: a session with a server-made token, and its session_created event."""
    student_name = usable_student_name(student_name)
    student, created = None, False
    if student_email:
        student, created = workshop_services.find_or_create_student(
            email=student_email, name=student_name
        )
    session = workshop_services.create_session_for(
        student=student, student_name=student_name, demo_mode=demo_mode
    )
    if created:
        _record_creator(student=student, session=session)
    record_event(
        event_type=EventType.SESSION_CREATED,
        student_id=session.student_id,
        session_token=session.pk,
        data={"demoMode": demo_mode},
    )
    return session


@transaction.atomic
def configure_session(*, session_token: str, changes: Mapping[str, Any]) -> WorkshopSession:
    """PATCH /api/sessions/<token>: only the given configuration fields change.

    Returns the session as written, read inside the transaction (see record_progress)."""
    workshop_services.update_configuration(session_token=session_token, changes=changes)
    return selectors.session_progress(session_token=session_token)


@transaction.atomic
def report_bug(*, session_token: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """Append a bug report to the session and write its bug_reported event."""
    entry = workshop_services.append_bug_report(session_token=session_token, report=report)
    session = WorkshopSession.objects.only("student_id").get(pk=session_token)
    record_event(
        event_type=EventType.BUG_REPORTED,
        student_id=session.student_id,
        session_token=session_token,
        data={"bugReportId": entry["id"], EVENT_STEP_KEY: entry.get("step")},
    )
    return entry


@transaction.atomic
def record_deployment(
    *,
    session_token: str,
    step_number: int,
    url: str,
    succeeded: bool,
    error: str | None = None,
) -> WorkshopSession:
    """A deployment attempt of a step: deployment_success (the URL becomes the step's
    deployment_url, creating the step's row when the step was never touched) or
    deployment_failure (nothing else changes).

    Returns the session as written, read inside the transaction (see record_progress)."""
    session = workshop_services.lock_open_session(session_token=session_token)
    data: dict[str, Any] = {EVENT_STEP_KEY: step_number, "url": url}
    updated = 0
    if succeeded:
        updated = StepProgress.objects.filter(
            session_id=session.pk, step_number=step_number
        ).update(deployment_url=url)
        if not updated:
            # attempts stay 0: a deployment is not an attempt at the step's exercise.
            StepProgress.objects.create(
                session_id=session.pk,
                student_id=session.student_id,
                step_number=step_number,
                step_name=step_title(step_number),
                attempts=0,
                deployment_url=url,
            )
    elif error:
        data["error"] = error
    if succeeded and not updated:
        totals.recalculate_session(session_token=session.pk, last_activity=timezone.now())
    else:
        WorkshopSession.objects.filter(pk=session.pk).update(**activity_changes(timezone.now()))
    record_event(
        event_type=EventType.DEPLOYMENT_SUCCESS if succeeded else EventType.DEPLOYMENT_FAILURE,
        student_id=session.student_id,
        session_token=session.pk,
        data=data,
    )
    return selectors.session_progress(session_token=session.pk)


# --------------------------------------------------------------------------------------------
# The real frontend's own calls (docs/frontend.md): the same rules, its habits
# --------------------------------------------------------------------------------------------
def _open_or_create_session(*, session_token: str) -> tuple[WorkshopSession, bool]:
    """The locked session of a frontend write, inserted (for an anonymous student) when the
    server has not seen the token: the frontend makes its own token when generate-session
    fails. 410 when the session no longer accepts writes."""
    session = workshop_services.find_locked_session(session_token=session_token)
    if session is None:
        session = workshop_services.insert_session(session_token=session_token, student=None)
        if session is not None:
            record_event(
                event_type=EventType.SESSION_CREATED,
                student_id=session.student_id,
                session_token=session.pk,
            )
            return session, True
        session = workshop_services.lock_session(session_token=session_token)
    if not session.accepts_progress:
        raise GoneError(SESSION_CLOSED)
    return session, False


@transaction.atomic
def save_configuration(*, session_token: str, changes: Mapping[str, Any]) -> WorkshopSession:
    """student-config-save / student-config-update: write the configuration fields given
    (none is fine: the save still counts as activity), creating the session when new."""
    session, _ = _open_or_create_session(session_token=session_token)
    return workshop_services.write_configuration(session=session, changes=changes)


@transaction.atomic
def file_bug_report(*, session_token: str | None, report: Mapping[str, Any]) -> None:
    """report-bug: on the session when it accepts writes (as POST .../bug-reports does);
    otherwise (no token, an unknown token, a closed session) kept whole in a bug_reported
    event, tied to the session when it exists, so no report is ever lost."""
    session = None
    if session_token:
        session = workshop_services.find_locked_session(session_token=session_token)
    if session is not None and session.accepts_progress:
        report_bug(session_token=session.pk, report=report)
        return
    record_event(
        event_type=EventType.BUG_REPORTED,
        student_id=session.student_id if session else None,
        session_token=session.pk if session else None,
        data={EVENT_STEP_KEY: report.get("step"), "report": dict(report)},
    )


def _known_session(session_token: str | None) -> WorkshopSession | None:
    if not session_token:
        return None
    return (
        WorkshopSession.objects.only("session_token", "student_id").filter(pk=session_token).first()
    )


def record_feedback(
    *, session_token: str | None, step_number: int | None, feedback: Mapping[str, Any]
) -> None:
    """submit-feedback: a feedback_submitted event (the rating, the message, the step), tied
    to the session when the body names a known one (the real frontend sends none)."""
    session = _known_session(session_token)
    record_event(
        event_type=EventType.FEEDBACK_SUBMITTED,
        student_id=session.student_id if session else None,
        session_token=session.pk if session else None,
        data={EVENT_STEP_KEY: step_number, **feedback},
    )


def record_session_log(
    *, session_token: str, log_type: str, step_number: int | None, data: Mapping[str, Any]
) -> None:
    """session-log: the frontend's own diagnostics as a session_log event on the session's
    timeline. Accepted for closed sessions too (that is when diagnostics matter) and not
    counted as activity: the session's expiry does not move. 404 for an unknown token."""
    session = _known_session(session_token)
    if session is None:
        raise NotFoundError(SESSION_NOT_FOUND)
    record_event(
        event_type=EventType.SESSION_LOG,
        student_id=session.student_id,
        session_token=session.pk,
        data={EVENT_STEP_KEY: step_number, "logType": log_type, "data": dict(data)},
    )


@dataclass(frozen=True)
class AISettings:
    session: WorkshopSession
    openai_api_key: str | None


@transaction.atomic
def read_ai_settings(*, session_token: str, reader: str) -> AISettings:
    """get-student-ai-settings, for the shared voice runtime: the session's AI settings with
    its decrypted OpenAI key. The only read that decrypts the key; the caller has checked the
    reader's permission. Every read is recorded (who, whether a key was returned; never the
    key). A key no configured encryption key opens is returned as None."""
    session = WorkshopSession.objects.filter(pk=session_token).first()
    if session is None:
        raise NotFoundError(SESSION_NOT_FOUND)
    key = None
    if session.openai_api_key:
        try:
            key = decrypt_secret(session.openai_api_key)
        except SecretDecryptionError:
            key = None
    record_event(
        event_type=EventType.AI_SETTINGS_READ,
        student_id=session.student_id,
        session_token=session.pk,
        data={"reader": reader, "keyReturned": key is not None},
    )
    return AISettings(session=session, openai_api_key=key)
