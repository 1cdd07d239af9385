"""Import of the old service's backup file (`manage.py import_legacy_backup FILE.json`).

The file is `GET /api/track-student-progress?getAllStudents=true`'s reply (spec/legacy.md):
`{"success": true, "count": n, "students": [{"studentId": <email>, "studentName",
"exercises", "startedAt", "lastActivity", "totalTimeSpent", "completionRate", "repoCreated",
"demoMode"}, ...]}`. Same rules and report as the table migration (workshop.legacy), applied in
Python with bulk writes so it runs on SQLite as well as PostgreSQL. The items carry no token:
each gets the deterministic one the table migration would derive for the same row, so running
the import twice, or after migrating the table the file was taken from, adds nothing.

In `analytics` for the same reason as analytics.legacy_migration: it writes all four tables.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics.legacy_migration import REPORT_LIST_LIMIT, MigrationReport, Progress
from analytics.models import EventType
from analytics.services import NewEvent, record_events
from progress.models import StepProgress
from progress.services import completion_rate
from workshop.legacy.exercises import (
    StepEntry,
    UnparsableJSON,
    legacy_bool,
    legacy_timestamp,
    parse_legacy_json,
    steps_from_exercises,
)
from workshop.legacy.identity import derived_token, is_placeholder, student_email_for
from workshop.models import SESSION_LIFETIME_HOURS, Student, WorkshopSession
from workshop.steps import step_title

SOURCE = "backup file"
BATCH_SIZE = 1000


class LegacyBackupError(Exception):
    """The file is not a legacy backup, or the import failed; nothing was changed."""


@dataclass
class _Session:
    token: str
    emails: list[str | None] = field(default_factory=list)
    name: str | None = None
    started_at: datetime | None = None
    last_activity: datetime | None = None
    demo_mode: bool = False
    items: list[int] = field(default_factory=list)
    steps: dict[int, StepEntry] = field(default_factory=dict)

    def add(self, index: int, item: dict, steps: dict[int, StepEntry]) -> None:
        self.items.append(index)
        self.emails.append(item.get("studentId"))
        name = item.get("studentName")
        if isinstance(name, str) and name.strip() and self.name is None:
            self.name = name.strip()
        started = legacy_timestamp(item.get("startedAt"))
        last = legacy_timestamp(item.get("lastActivity"))
        if started and (self.started_at is None or started < self.started_at):
            self.started_at = started
        if last and (self.last_activity is None or last > self.last_activity):
            self.last_activity = last
        self.demo_mode = self.demo_mode or legacy_bool(item.get("demoMode"))
        for number, entry in steps.items():
            self.steps.setdefault(number, StepEntry(number)).merge(entry)

    @property
    def email(self) -> str | None:
        real = [e for e in self.emails if not is_placeholder(e)]
        return real[0] if real else None


def load_backup(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LegacyBackupError(f"cannot read {path}: {exc}") from exc
    items = data.get("students") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise LegacyBackupError(f'{path} has no "students" list: not a legacy backup file')
    return items


def import_legacy_backup(
    *, path: Path, dry_run: bool = False, progress: Progress = lambda message: None
) -> MigrationReport:
    started = time.monotonic()
    items = load_backup(path)
    report = MigrationReport(dry_run=dry_run)
    report.rows_read[SOURCE] = len(items)
    sessions = _parse(items, report)
    progress(f"parsed {len(items)} items: {len(sessions)} sessions, {report.bad_row_count} bad")
    with transaction.atomic():
        _write(sessions, report, progress)
        if dry_run:
            transaction.set_rollback(True)
    report.seconds = time.monotonic() - started
    return report


def _bad(report: MigrationReport, index: int, reason: str) -> None:
    report.bad_row_count += 1
    if len(report.bad_rows) < REPORT_LIST_LIMIT:
        report.bad_rows.append((SOURCE, f"#{index}", reason))


def _parse(items: list[Any], report: MigrationReport) -> dict[str, _Session]:
    sessions: dict[str, _Session] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            _bad(report, index, "item is not an object")
            continue
        try:
            exercises = parse_legacy_json(item.get("exercises"))
        except UnparsableJSON:
            _bad(report, index, "exercises is not valid JSON")
            continue
        if exercises is not None and not isinstance(exercises, dict):
            _bad(report, index, "exercises is not an object")
            continue
        steps, skipped = steps_from_exercises(exercises or {})
        report.skipped_keys.update(skipped)
        email = item.get("studentId") if isinstance(item.get("studentId"), str) else None
        token = derived_token(email, legacy_timestamp(item.get("startedAt")))
        sessions.setdefault(token, _Session(token)).add(index, item, steps)
    report.sessions_found = len(sessions)
    return sessions


def _write(sessions: dict[str, _Session], report: MigrationReport, progress: Progress) -> None:
    tokens = list(sessions)
    existing = set()
    for start in range(0, len(tokens), BATCH_SIZE):
        chunk = tokens[start : start + BATCH_SIZE]
        existing.update(WorkshopSession.objects.filter(pk__in=chunk).values_list("pk", flat=True))
    report.sessions_existing = len(existing)
    new = [sessions[token] for token in tokens if token not in existing]
    # Keys skipped in sessions that are not migrated now were reported by an earlier run.
    if not new:
        report.skipped_keys.clear()
        return

    emails = {s.token: student_email_for(s.email, s.token) for s in new}
    students = _students(new, emails, report)
    now = timezone.now()
    lifetime = timedelta(hours=SESSION_LIFETIME_HOURS)
    rows, steps, events = [], [], []
    for s in new:
        student_id = students[emails[s.token]]
        started = s.started_at or now
        last = s.last_activity or started
        completed = [e for e in s.steps.values() if e.validation_passed]
        rows.append(
            WorkshopSession(
                session_token=s.token,
                student_id=student_id,
                started_at=started,
                last_activity=last,
                expires_at=last + lifetime,
                is_active=last + lifetime > now,
                demo_mode=s.demo_mode,
                current_step=max(s.steps, default=0),
                completion_rate=completion_rate(len(completed)),
                total_time_spent=sum(e.time_spent for e in completed),
            )
        )
        steps.extend(
            StepProgress(
                session_id=s.token,
                student_id=student_id,
                step_number=e.step_number,
                step_name=step_title(e.step_number),
                started_at=e.started_at or started,
                completed_at=e.completed_at,
                time_spent=e.time_spent,
                attempts=e.attempts,
                validation_passed=e.validation_passed,
            )
            for e in sorted(s.steps.values(), key=lambda e: e.step_number)
        )
        events.append(
            NewEvent(
                event_type=EventType.DATA_MIGRATED,
                student_id=student_id,
                session_token=s.token,
                data={"source": SOURCE, "legacy_key": f"#{s.items[0]}", "steps": len(s.steps)},
            )
        )
    for start in range(0, len(rows), BATCH_SIZE):
        WorkshopSession.objects.bulk_create(rows[start : start + BATCH_SIZE])
        progress(f"created {min(start + BATCH_SIZE, len(rows))} of {len(rows)} sessions")
    StepProgress.objects.bulk_create(steps, batch_size=BATCH_SIZE)
    for start in range(0, len(events), BATCH_SIZE):
        record_events(events[start : start + BATCH_SIZE], notify=False)
    report.sessions_created = len(rows)
    report.steps_created = len(steps)
    report.events_created = len(events)


def _students(new: list[_Session], emails: dict[str, str], report: MigrationReport) -> dict:
    """student_id by email: existing students are reused, missing ones created."""
    names: dict[str, str | None] = {}
    for s in sorted(new, key=lambda s: s.last_activity or timezone.now(), reverse=True):
        names.setdefault(emails[s.token], None)
        if names[emails[s.token]] is None and s.name:
            names[emails[s.token]] = s.name
    wanted = list(names)
    ids: dict[str, Any] = {}
    for start in range(0, len(wanted), BATCH_SIZE):
        chunk = wanted[start : start + BATCH_SIZE]
        ids.update(
            Student.objects.filter(student_email__in=chunk).values_list("student_email", "pk")
        )
    missing = [Student(student_email=e, student_name=names[e]) for e in wanted if e not in ids]
    Student.objects.bulk_create(missing, batch_size=BATCH_SIZE)
    ids.update({student.student_email: student.pk for student in missing})
    report.students_created = len(missing)
    return ids
