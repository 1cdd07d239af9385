"""Writes to students and workshop sessions: one function per use case, safe under concurrency.

Everything here relies on the database's unique constraints (students.student_email, the
sessions primary key) rather than on a prior SELECT, so parallel requests creating the same
student or session never fail and never duplicate. Events and step rows belong to other apps:
the progress services combine these functions with them inside one transaction.
"""

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from workshop.batches import iter_pk_batches
from workshop.crypto import SecretDecryptionError, encrypt_secret, is_current, rotate_secret
from workshop.errors import SESSION_CLOSED, SESSION_NOT_FOUND, GoneError, NotFoundError
from workshop.expiry import activity_changes, slid_expiry
from workshop.formatting import iso_z
from workshop.models import (
    Student,
    WorkshopSession,
    anonymous_email,
    normalize_email,
    stored_json,
)
from workshop.session_config import JSON_COLUMNS, SECRET_COLUMN, TEXT_COLUMNS

# `ws_` plus 32 bytes from `secrets` (256 bits, URL-safe): far beyond guessing.
SESSION_TOKEN_PREFIX = "ws_"
SESSION_TOKEN_BYTES = 32

# Configuration columns a client may write (PATCH /api/sessions/<token>), besides the secret.
CONFIGURATION_FIELDS = frozenset({*TEXT_COLUMNS, *JSON_COLUMNS, "demo_mode"})
SECRET_FIELD = SECRET_COLUMN


def new_session_token() -> str:
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(SESSION_TOKEN_BYTES)


# One statement, race-free on both backends (PostgreSQL, and SQLite >= 3.35): the unique
# index on student_email decides, and RETURNING hands back the row either way.
_UPSERT_STUDENT_SQL = """
INSERT INTO students (student_id, student_email, student_name) VALUES (%s, %s, %s)
ON CONFLICT (student_email)
DO UPDATE SET student_name = COALESCE(EXCLUDED.student_name, students.student_name)
RETURNING student_id, student_email, student_name, twilio_account_sid, github_username,
          created_at, updated_at
"""


def get_or_create_student(*, email: str, name: str | None = None) -> Student:
    """The student with this email (trimmed, case-insensitive), created when new.

    A given name replaces the stored one; an absent name leaves it alone. One
    INSERT ... ON CONFLICT ... RETURNING, so parallel requests creating the same student all
    get the one row, without a savepoint or a retry.
    """
    student_id = Student._meta.pk.get_db_prep_value(uuid.uuid4(), connection, prepared=False)
    rows = Student.objects.raw(
        _UPSERT_STUDENT_SQL, [student_id, normalize_email(email), name or None]
    )
    return next(iter(rows))


def create_anonymous_student(*, name: str | None = None) -> Student:
    """A student without an address: a unique placeholder under the reserved domain.

    The placeholder is keyed by a fresh random UUID, never by the session token, so the
    address (shown to instructors) reveals nothing a client could use.
    """
    return Student.objects.create(
        student_email=anonymous_email(uuid.uuid4().hex), student_name=name or None
    )


def find_locked_session(*, session_token: str) -> WorkshopSession | None:
    """The session row with its student, locked until the end of the caller's transaction,
    or None when there is no such session.

    FOR NO KEY UPDATE serializes writers of one session (their totals cannot interleave)
    while still letting other transactions insert rows that reference it.
    """
    return (
        WorkshopSession.objects.select_for_update(no_key=True, of=("self",))
        .select_related("student")
        .filter(session_token=session_token)
        .first()
    )


def lock_session(*, session_token: str) -> WorkshopSession:
    """The locked session (see find_locked_session); 404 when unknown."""
    session = find_locked_session(session_token=session_token)
    if session is None:
        raise NotFoundError(SESSION_NOT_FOUND)
    return session


def lock_open_session(*, session_token: str) -> WorkshopSession:
    """The locked session when it still accepts writes; 410 when expired or inactive."""
    session = lock_session(session_token=session_token)
    if not session.accepts_progress:
        raise GoneError(SESSION_CLOSED)
    return session


def insert_session(
    *,
    session_token: str,
    student: Student | None,
    name: str | None = None,
    demo_mode: bool | None = None,
) -> WorkshopSession | None:
    """Insert a new session (for an anonymous student when `student` is None).

    Returns None, with nothing written, when the token already exists (another request won
    the race or the session is simply known): the unique primary key decides, in a savepoint
    that also rolls back the anonymous student made for it.
    """
    try:
        with transaction.atomic():
            owner = student or create_anonymous_student(name=name)
            session = WorkshopSession.objects.create(
                session_token=session_token,
                student=owner,
                demo_mode=bool(demo_mode),
                expires_at=slid_expiry(timezone.now()),
            )
    except IntegrityError:
        return None
    return session


@transaction.atomic
def create_session(
    *, student_email: str | None, student_name: str | None, demo_mode: bool
) -> WorkshopSession:
    """A new session with a server-made token, for the student with this email (created when
    new) or for a new anonymous student."""
    student = None
    if student_email:
        student = get_or_create_student(email=student_email, name=student_name)
    while True:
        session = insert_session(
            session_token=new_session_token(),
            student=student,
            name=student_name,
            demo_mode=demo_mode,
        )
        if session is not None:
            break
    # The database sets started_at/expires_at: read them back for the reply.
    session.refresh_from_db(fields=["started_at", "last_activity", "expires_at"])
    return session


def delete_student_if_unused(*, student_id: uuid.UUID) -> bool:
    """Delete a student who owns no session any more (an anonymous student whose session was
    claimed). One statement: the existence check and the delete cannot race apart."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM students WHERE student_id = %s"
            " AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.student_id = %s)",
            [Student._meta.pk.get_db_prep_value(student_id, connection, prepared=False)] * 2,
        )
        return cursor.rowcount == 1


@transaction.atomic
def update_configuration(*, session_token: str, changes: Mapping[str, Any]) -> WorkshopSession:
    """Write only the configuration fields given; every other column keeps its value.

    `openai_api_key` is encrypted before it is stored, and None clears it. Unknown field
    names are a programming error (ValueError), never silently dropped.
    """
    session = lock_open_session(session_token=session_token)
    return write_configuration(session=session, changes=changes)


def write_configuration(*, session: WorkshopSession, changes: Mapping[str, Any]) -> WorkshopSession:
    """update_configuration's write, for a caller already holding the session's lock."""
    unknown = set(changes) - CONFIGURATION_FIELDS - {SECRET_FIELD}
    if unknown:
        raise ValueError(f"not configuration fields: {sorted(unknown)}")
    values = dict(changes)
    if SECRET_FIELD in values and values[SECRET_FIELD] is not None:
        values[SECRET_FIELD] = encrypt_secret(values[SECRET_FIELD])
    # An accepted write: the session's activity and sliding expiry move with it.
    values.update(activity_changes(timezone.now()))
    for name, value in values.items():
        setattr(session, name, value)
    session.save(update_fields=sorted(values))
    return session


@transaction.atomic
def append_bug_report(*, session_token: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """Append a bug report to the session's `bug_reports`, with an id and a server timestamp.

    The session row is locked first, so parallel reports are all kept.
    """
    session = lock_open_session(session_token=session_token)
    entry = {
        "id": str(uuid.uuid4()),
        # The API's timestamp format everywhere: ISO 8601, UTC written as Z.
        "createdAt": iso_z(timezone.now()),
        **{key: value for key, value in report.items() if value is not None},
    }
    session.bug_reports = [*stored_json(session.bug_reports, list), entry]
    for name, value in activity_changes(timezone.now()).items():
        setattr(session, name, value)
    session.save(update_fields=["bug_reports", "last_activity", "expires_at"])
    return entry


@dataclass
class KeyRotationSummary:
    examined: int = 0
    rotated: int = 0
    current: int = 0
    # Ciphertext no configured key opens (or legacy plaintext): left as it is, to be looked at.
    unreadable: int = 0
    # Changed by someone else between our read and our write: theirs wins, already current.
    skipped_concurrent: int = 0


def rotate_encryption_keys(
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    on_batch: Callable[[KeyRotationSummary], None] | None = None,
) -> KeyRotationSummary:
    """Re-encrypt every stored OpenAI key under the first of FIELD_ENCRYPTION_KEYS.

    Walks the sessions holding a key in token order, `batch_size` at a time, one transaction
    per batch. Each write is conditional on the ciphertext still being the one read, so a key
    a student saves meanwhile is never overwritten. With `dry_run`, only counts.
    """
    summary = KeyRotationSummary()
    holders = WorkshopSession.objects.exclude(openai_api_key__isnull=True).exclude(
        openai_api_key=""
    )
    for batch in iter_pk_batches(holders, batch_size, "openai_api_key"):
        with transaction.atomic():
            for token, ciphertext in batch:
                summary.examined += 1
                if is_current(ciphertext):
                    summary.current += 1
                    continue
                try:
                    rotated = rotate_secret(ciphertext)
                except SecretDecryptionError:
                    summary.unreadable += 1
                    continue
                if dry_run:
                    summary.rotated += 1
                    continue
                updated = WorkshopSession.objects.filter(
                    session_token=token, openai_api_key=ciphertext
                ).update(openai_api_key=rotated)
                if updated:
                    summary.rotated += 1
                else:
                    summary.skipped_concurrent += 1
        if on_batch is not None:
            on_batch(summary)
    return summary


# The session admin's bulk actions: each is one UPDATE over the selected sessions.
EXTENSION = dt.timedelta(hours=24)


@transaction.atomic
def deactivate_sessions(*, session_tokens: Collection[str]) -> int:
    """Sessions stop accepting progress. Returns how many were active before."""
    return WorkshopSession.objects.filter(session_token__in=session_tokens, is_active=True).update(
        is_active=False
    )


@transaction.atomic
def extend_sessions(*, session_tokens: Collection[str], by: dt.timedelta = EXTENSION) -> int:
    """Push expiry `by` later. An already expired (or never set) expiry counts from now, so
    an extended session always has `by` ahead of it. Returns the number of sessions."""
    now = Value(timezone.now())
    return WorkshopSession.objects.filter(session_token__in=session_tokens).update(
        expires_at=Greatest(Coalesce(F("expires_at"), now), now) + by
    )
