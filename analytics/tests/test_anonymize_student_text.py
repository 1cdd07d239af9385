"""Anonymizing a student clears everything they wrote, not only what names them (issue 11):
every configuration column, the step names they sent, the bug reports' text."""

from io import StringIO

import pytest
from django.core.management import call_command

from progress.models import StepProgress
from progress.tests.factories import StepProgressFactory
from workshop.models import WorkshopSession
from workshop.session_config import SESSION_CONFIG, Kind
from workshop.steps import step_title
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

# Student-written configuration: everything a client may set but the inbound/outbound choice.
WRITTEN = {f.column for f in SESSION_CONFIG if f.kind is not Kind.CHOICE}


def test_every_student_written_column_is_personal():
    assert {f.column for f in SESSION_CONFIG if f.personal} == WRITTEN


def test_anonymize_clears_student_written_text():
    student = StudentFactory(student_email="zoe@example.org", student_name="Zoe")
    session = WorkshopSessionFactory(
        student=student,
        tts_provider="my-tts",
        selected_voice="Zoe's voice",
        voice_settings={"note": "Zoe's settings"},
        tools=[{"name": "zoe_tool"}],
        system_prompt="Zoe's prompt",
        call_direction="inbound",
        bug_reports=[{"description": "Zoe's bug"}, {"description": "another"}],
    )
    StepProgressFactory(session=session, step_number=2, step_name="Zoe's own step name")

    call_command(
        "student_data", "erase", "--email", "zoe@example.org", "--anonymize", stdout=StringIO()
    )

    session = WorkshopSession.objects.get(pk=session.pk)
    assert session.tts_provider is None
    assert session.selected_voice is None
    assert session.system_prompt is None
    assert session.voice_settings == {}
    assert session.tools == []
    assert session.call_direction == "inbound"  # a choice, not text: kept for statistics
    assert session.bug_reports == [{"redacted": True}, {"redacted": True}]
    assert StepProgress.objects.get(session=session).step_name == step_title(2)
