"""The full export (`manage.py export_progress`): streamed, constant memory, no secrets.

JSON (for restoring and analysis): one document, written piece by piece:
`{"format", "exported_at", "students": [{...student, "sessions": [{...session, "steps":
[...]}]}], "events": [...]}`. CSV (for spreadsheets): one row per session with its student and
the nine steps side by side. Rows are read in chunks (`iterator(chunk_size=...)` with
prefetching per chunk), so memory does not grow with the data and the query count grows only
with the number of chunks. `openai_api_key` is never exported (only whether one is set).
"""

import csv
import json
from collections.abc import Callable, Iterator
from typing import TextIO

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch
from django.utils import timezone

from analytics.models import Event
from progress.models import StepProgress
from workshop.models import Student, WorkshopSession
from workshop.steps import STEPS

FORMAT = "workshop-progress-export/1"
CHUNK_SIZE = 1000
SECRET_FIELDS = {"openai_api_key"}

STUDENT_EXPORT_FIELDS = [f.attname for f in Student._meta.concrete_fields]
SESSION_EXPORT_FIELDS = [
    f.attname for f in WorkshopSession._meta.concrete_fields if f.name not in SECRET_FIELDS
]
STEP_EXPORT_FIELDS = [
    f.attname for f in StepProgress._meta.concrete_fields if f.name not in {"session", "student"}
]
EVENT_EXPORT_FIELDS = [f.attname for f in Event._meta.concrete_fields]
STEP_COLUMNS = ["validation_passed", "completed_at", "time_spent", "attempts"]

Progress = Callable[[str], None]


def _fields(obj, names: list[str]) -> dict:
    return {name: getattr(obj, name) for name in names}


def _session_dict(session: WorkshopSession) -> dict:
    return {
        **_fields(session, SESSION_EXPORT_FIELDS),
        "has_openai_api_key": session.has_openai_api_key,
        "steps": [_fields(step, STEP_EXPORT_FIELDS) for step in session.steps.all()],
    }


def _students() -> Iterator[Student]:
    sessions = WorkshopSession.objects.order_by("started_at", "pk").prefetch_related(
        Prefetch("steps", queryset=StepProgress.objects.order_by("step_number"))
    )
    return (
        Student.objects.order_by("created_at", "pk")
        .prefetch_related(Prefetch("sessions", queryset=sessions))
        .iterator(chunk_size=CHUNK_SIZE)
    )


def write_json(out: TextIO, *, progress: Progress = lambda message: None) -> dict[str, int]:
    encoder = DjangoJSONEncoder()
    counts = {"students": 0, "sessions": 0, "events": 0}
    header = {"format": FORMAT, "exported_at": timezone.now()}
    out.write(encoder.encode(header)[:-1] + ', "students": [\n')
    for student in _students():
        document = {**_fields(student, STUDENT_EXPORT_FIELDS)}
        document["sessions"] = [_session_dict(s) for s in student.sessions.all()]
        out.write((",\n" if counts["students"] else "") + encoder.encode(document))
        counts["students"] += 1
        counts["sessions"] += len(document["sessions"])
        if counts["students"] % CHUNK_SIZE == 0:
            progress(f"exported {counts['students']} students")
    out.write('\n], "events": [\n')
    for event in Event.objects.order_by("pk").iterator(chunk_size=CHUNK_SIZE):
        out.write(
            (",\n" if counts["events"] else "")
            + encoder.encode(_fields(event, EVENT_EXPORT_FIELDS))
        )
        counts["events"] += 1
        if counts["events"] % (10 * CHUNK_SIZE) == 0:
            progress(f"exported {counts['events']} events")
    out.write("\n]}\n")
    return counts


def csv_header() -> list[str]:
    student = [
        f"student_{name}" if not name.startswith("student") else name
        for name in STUDENT_EXPORT_FIELDS
    ]
    steps = [f"step_{step.number}_{column}" for step in STEPS for column in STEP_COLUMNS]
    return [
        *student,
        *[n for n in SESSION_EXPORT_FIELDS if n != "student_id"],
        "has_openai_api_key",
        *steps,
    ]


def _csv_value(value):
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder)
    return "" if value is None else value


def write_csv(out: TextIO, *, progress: Progress = lambda message: None) -> dict[str, int]:
    writer = csv.writer(out)
    writer.writerow(csv_header())
    sessions = (
        WorkshopSession.objects.order_by("started_at", "pk")
        .select_related("student")
        .prefetch_related("steps")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    count = 0
    for session in sessions:
        steps = {step.step_number: step for step in session.steps.all()}
        row = [getattr(session.student, name) for name in STUDENT_EXPORT_FIELDS]
        row += [getattr(session, name) for name in SESSION_EXPORT_FIELDS if name != "student_id"]
        row.append(session.has_openai_api_key)
        for step in STEPS:
            found = steps.get(step.number)
            row += [getattr(found, column) if found else None for column in STEP_COLUMNS]
        writer.writerow([_csv_value(value) for value in row])
        count += 1
        if count % CHUNK_SIZE == 0:
            progress(f"exported {count} sessions")
    return {"sessions": count}
