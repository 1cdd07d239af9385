"""Writes to students and sessions (workshop.services)."""

import re

import pytest

from workshop import services
from workshop.crypto import decrypt_secret
from workshop.errors import ApplicationError
from workshop.models import Student, WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def test_session_tokens_are_ws_plus_256_random_bits():
    tokens = {services.new_session_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(re.fullmatch(r"ws_[A-Za-z0-9_-]{43}", token) for token in tokens)


def test_get_or_create_student_normalizes_and_reuses():
    first = services.get_or_create_student(email=" Ada@Example.COM ", name="Ada")
    again = services.get_or_create_student(email="ada@example.com")

    assert first.pk == again.pk
    assert (again.student_email, again.student_name) == ("ada@example.com", "Ada")
    assert again.created_at is not None
    assert Student.objects.count() == 1


def test_find_or_create_student_never_renames_an_existing_student():
    StudentFactory(student_email="ada@example.com", student_name="Ada")

    found, created = services.find_or_create_student(email="ada@example.com", name="Mallory")

    assert (found.student_name, created) == ("Ada", False)
    assert Student.objects.get().student_name == "Ada"
    new, created = services.find_or_create_student(email="nia@example.com", name="Nia")
    assert (new.student_name, created) == ("Nia", True)


def test_create_session_for_nobody_makes_an_anonymous_student():
    session = services.create_session(student_email=None, student_name="Guest", demo_mode=True)

    assert session.student.is_anonymous
    assert session.student.student_name == "Guest"
    assert session.expires_at is not None
    assert session.demo_mode is True


def test_update_configuration_encrypts_the_key_and_leaves_other_fields():
    session = WorkshopSessionFactory(system_prompt="keep")

    services.update_configuration(
        session_token=session.pk, changes={"openai_api_key": "sk-abc", "tts_provider": "x"}
    )

    session.refresh_from_db()
    assert session.system_prompt == "keep"
    assert session.tts_provider == "x"
    assert session.openai_api_key != "sk-abc"
    assert decrypt_secret(session.openai_api_key) == "sk-abc"


def test_update_configuration_refuses_columns_that_are_not_configuration():
    session = WorkshopSessionFactory()

    with pytest.raises(ValueError, match="completion_rate"):
        services.update_configuration(session_token=session.pk, changes={"completion_rate": 100})


def test_update_configuration_of_unknown_session_is_404():
    with pytest.raises(ApplicationError) as error:
        services.update_configuration(session_token="ws_nobody", changes={})

    assert error.value.status == 404


def test_bug_reports_stored_double_encoded_are_kept():
    session = WorkshopSessionFactory(bug_reports='[{"id": "legacy"}]')

    services.append_bug_report(session_token=session.pk, report={"description": "new"})

    session.refresh_from_db()
    assert session.bug_reports[0]["id"] == "legacy"
    assert len(session.bug_reports) == 2


def test_delete_student_if_unused_keeps_students_with_sessions():
    kept = WorkshopSessionFactory().student
    unused = StudentFactory()

    assert services.delete_student_if_unused(student_id=kept.pk) is False
    assert services.delete_student_if_unused(student_id=unused.pk) is True
    assert list(Student.objects.all()) == [kept]
    assert WorkshopSession.objects.count() == 1
