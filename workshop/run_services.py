"""Writes on workshop runs: moving a session to another run, importing a run's roster."""

import csv
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from workshop.models import (
    RunRosterEntry,
    SessionRunMove,
    WorkshopRun,
    WorkshopSession,
    normalize_email,
)

ROSTER_MAX_BYTES = 2 * 1024 * 1024
ROSTER_EMAIL_HEADERS = ("email", "e-mail", "student_email", "mail")
ROSTER_NAME_HEADERS = ("name", "student_name", "full name", "full_name")


@transaction.atomic
def move_session_to_run(*, session: WorkshopSession, run: WorkshopRun, moved_by=None) -> None:
    """Put `session` in `run` whatever its start time (replacing an earlier move)."""
    SessionRunMove.objects.update_or_create(
        session=session, defaults={"run": run, "moved_by": moved_by}
    )


@dataclass(frozen=True)
class RosterImport:
    added: int
    already_there: int
    rejected: list[tuple[int, str]]  # (line number, reason)


def import_roster_csv(*, run: WorkshopRun, data: bytes) -> RosterImport:
    """Add the CSV's participants to the run's roster. The file has a header row with an
    email column (`email`, `e-mail`, `student_email` or `mail`) and optionally a name column;
    a file without a recognised header is read as one email per line. Emails are stored
    normalized; duplicates and existing entries are skipped; bad lines are reported."""
    if len(data) > ROSTER_MAX_BYTES:
        raise ValidationError(f"The roster file is larger than {ROSTER_MAX_BYTES // 1024} KB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The roster file is not UTF-8 text.") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValidationError("The roster file is empty.")
    header = [cell.strip().lower() for cell in rows[0]]
    email_col = next((header.index(h) for h in ROSTER_EMAIL_HEADERS if h in header), None)
    name_col = next((header.index(h) for h in ROSTER_NAME_HEADERS if h in header), None)
    start = 1
    if email_col is None:
        email_col, start = 0, 0
    wanted: dict[str, str] = {}
    rejected: list[tuple[int, str]] = []
    for line, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        raw = row[email_col].strip() if email_col < len(row) else ""
        try:
            validate_email(raw)
        except ValidationError:
            rejected.append((line, f"not an email address: {raw[:80]!r}"))
            continue
        name = row[name_col].strip()[:200] if name_col is not None and name_col < len(row) else ""
        wanted.setdefault(normalize_email(raw), name)
    with transaction.atomic():
        existing = set(
            RunRosterEntry.objects.filter(run=run, email__in=list(wanted)).values_list(
                "email", flat=True
            )
        )
        RunRosterEntry.objects.bulk_create(
            [
                RunRosterEntry(run=run, email=email, name=name)
                for email, name in wanted.items()
                if email not in existing
            ],
            ignore_conflicts=True,
        )
    return RosterImport(
        added=len(wanted) - len(existing), already_there=len(existing), rejected=rejected
    )
