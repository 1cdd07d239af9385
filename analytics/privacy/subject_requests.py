"""Data-subject requests: a student's data as JSON (access), erasure, anonymization.

Used by `manage.py student_data` and by the Django admin actions below (StudentAdmin lists
STUDENT_DATA_ACTIONS). In `analytics` because a student's data includes their steps and
events, and analytics is the app allowed to read and write all of them.
"""

import json
import uuid
from collections import Counter
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpResponse
from django.template.response import TemplateResponse

from analytics.integrations.services import forget_student
from analytics.models import Event
from analytics.privacy.exports import (
    EVENT_EXPORT_FIELDS,
    SESSION_EXPORT_FIELDS,
    STEP_EXPORT_FIELDS,
    STUDENT_EXPORT_FIELDS,
)
from progress.models import StepProgress
from workshop.models import Student, WorkshopSession, anonymous_email, normalize_email
from workshop.session_config import CLEARED_VALUES, PERSONAL_COLUMNS
from workshop.steps import STEPS

EXPORT_FORMAT = "workshop-progress-student/1"
# Personal text cleared when anonymizing; numbers, flags and timestamps stay for the statistics.
STUDENT_PERSONAL_FIELDS = ("student_name", "github_username", "twilio_account_sid")
SESSION_PERSONAL_FIELDS = PERSONAL_COLUMNS
STEP_PERSONAL_FIELDS = ("code_submitted", "deployment_url")
# step_name is written by the student too (stepName): it goes back to the catalogue's title.


class StudentNotFound(Exception):
    pass


@dataclass(frozen=True)
class ErasureResult:
    anonymized: bool
    rows: dict[str, int]  # model label -> rows deleted or anonymized


def find_student(*, email: str) -> Student:
    try:
        return Student.objects.get(student_email=normalize_email(email))
    except Student.DoesNotExist:
        raise StudentNotFound(f"no student with email {normalize_email(email)!r}") from None


def student_data(*, student: Student) -> dict:
    """Everything stored about one student, secrets excluded (an access request's answer)."""
    sessions = WorkshopSession.objects.filter(student=student).order_by("started_at", "pk")
    steps = StepProgress.objects.filter(student=student).order_by("session_id", "step_number")
    by_session: dict[str, list] = {}
    for step in steps:
        by_session.setdefault(step.session_id, []).append(
            {n: getattr(step, n) for n in STEP_EXPORT_FIELDS}
        )
    return {
        "format": EXPORT_FORMAT,
        "student": {n: getattr(student, n) for n in STUDENT_EXPORT_FIELDS},
        "sessions": [
            {
                **{n: getattr(s, n) for n in SESSION_EXPORT_FIELDS},
                "has_openai_api_key": s.has_openai_api_key,
                "steps": by_session.get(s.session_token, []),
            }
            for s in sessions
        ],
        "events": [
            {n: getattr(e, n) for n in EVENT_EXPORT_FIELDS}
            for e in Event.objects.filter(student=student).order_by("created_at", "pk")
        ],
    }


def student_data_json(*, student: Student) -> str:
    return json.dumps(student_data(student=student), cls=DjangoJSONEncoder, indent=2)


@transaction.atomic
def erase_student(*, student: Student) -> ErasureResult:
    """Delete the student and everything under it (sessions, steps, events, and what the
    outbox holds about them)."""
    forgotten = forget_student(student_id=student.pk)
    _, rows = student.delete()
    return ErasureResult(anonymized=False, rows={**rows, **forgotten})


def _numbers_only(data):
    """Event data without text: numbers and booleans are statistics, strings may be personal."""
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, bool | int | float)}


@transaction.atomic
def anonymize_student(*, student: Student) -> ErasureResult:
    """Keep the numbers, strip what identifies the person or was written by them."""
    rows = Counter()
    student.student_email = anonymous_email(f"erased-{uuid.uuid4().hex}")
    for name in STUDENT_PERSONAL_FIELDS:
        setattr(student, name, None)
    student.save(update_fields=["student_email", *STUDENT_PERSONAL_FIELDS])
    rows[Student._meta.label] = 1
    sessions = WorkshopSession.objects.filter(student=student)
    for session in sessions.only("pk", "bug_reports"):
        # The number of bug reports stays; their text goes.
        reports = session.bug_reports if isinstance(session.bug_reports, list) else []
        WorkshopSession.objects.filter(pk=session.pk).update(
            bug_reports=[{"redacted": True} for _ in reports], **CLEARED_VALUES
        )
        rows[WorkshopSession._meta.label] += 1
    steps = StepProgress.objects.filter(student=student)
    rows[StepProgress._meta.label] = steps.update(**dict.fromkeys(STEP_PERSONAL_FIELDS))
    for step in STEPS:
        steps.filter(step_number=step.number).exclude(step_name=step.title).update(
            step_name=step.title
        )
    events = list(Event.objects.filter(student=student).only("pk", "event_data"))
    for event in events:
        event.event_data = _numbers_only(event.event_data)
    Event.objects.bulk_update(events, ["event_data"], batch_size=500)
    rows[Event._meta.label] = len(events)
    # Webhook bodies and e-mail records hold the name and text: they go, the numbers stay.
    rows.update(forget_student(student_id=student.pk))
    return ErasureResult(anonymized=True, rows=dict(rows))


# --- admin actions (StudentAdmin.actions = [*STUDENT_DATA_ACTIONS]) ---------------------------


@admin.action(description="Export selected students' data (JSON)")
def export_student_data(modeladmin, request, queryset) -> HttpResponse:
    documents = [student_data(student=student) for student in queryset]
    response = HttpResponse(
        json.dumps(documents, cls=DjangoJSONEncoder, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="student-data.json"'
    return response


def _for_each(modeladmin, request, queryset, service, done: str) -> None:
    count = 0
    for student in queryset:
        service(student=student)
        count += 1
    modeladmin.message_user(request, done.format(count=count), messages.SUCCESS)


CONFIRM_FIELD = "confirm"


def _confirmation(modeladmin, request, queryset, *, action: str, title: str, consequence: str):
    """A page of its own asking to confirm, as the admin's "Delete selected" does; its form
    posts the same action again with `confirm` set."""
    return TemplateResponse(
        request,
        "admin/student_data_confirm.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "consequence": consequence,
            "students": list(queryset[:200]),
            "count": queryset.count(),
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


@admin.action(description="Erase selected students and all their data", permissions=["delete"])
def erase_student_data(modeladmin, request, queryset):
    if request.POST.get(CONFIRM_FIELD) != "yes":
        return _confirmation(
            modeladmin,
            request,
            queryset,
            action="erase_student_data",
            title="Erase these students and all their data?",
            consequence=(
                "Their sessions, step progress and events are deleted for good. "
                "This cannot be undone."
            ),
        )
    _for_each(
        modeladmin, request, queryset, erase_student, "Erased {count} students and all their data."
    )
    return None


@admin.action(description="Anonymize selected students (keep the numbers)", permissions=["change"])
def anonymize_student_data(modeladmin, request, queryset):
    if request.POST.get(CONFIRM_FIELD) != "yes":
        return _confirmation(
            modeladmin,
            request,
            queryset,
            action="anonymize_student_data",
            title="Anonymize these students?",
            consequence=(
                "Names, emails, GitHub users, configurations and free text are removed; the "
                "numbers (steps, times, attempts) stay. This cannot be undone."
            ),
        )
    _for_each(modeladmin, request, queryset, anonymize_student, "Anonymized {count} students.")
    return None


STUDENT_DATA_ACTIONS = [export_student_data, erase_student_data, anonymize_student_data]
