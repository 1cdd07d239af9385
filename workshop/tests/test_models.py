"""Model defaults and derived values, on whichever database the suite runs."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from workshop.models import Student, WorkshopSession, anonymous_email, normalize_email
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def test_raw_insert_gets_the_spec_defaults_on_every_backend():
    student = StudentFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sessions (session_token, student_id) VALUES (%s, %s)",
            ["ws_raw", Student._meta.pk.get_db_prep_value(student.student_id, connection)],
        )

    session = WorkshopSession.objects.get(pk="ws_raw")

    assert session.expires_at - session.started_at == dt.timedelta(hours=24)
    assert abs(session.started_at - timezone.now()) < dt.timedelta(minutes=1)
    assert (session.is_active, session.demo_mode) == (True, False)
    assert (session.current_step, session.total_time_spent, session.completion_rate) == (0, 0, 0)
    assert (session.tools, session.voice_settings, session.bug_reports) == ([], {}, [])


def test_orm_create_returns_database_defaults():
    session = WorkshopSessionFactory()

    assert session.expires_at - session.started_at == dt.timedelta(hours=24)
    assert session.created_at is not None


def test_active_and_expired_sessions():
    live = WorkshopSessionFactory()
    expired = WorkshopSessionFactory(expires_at=timezone.now() - dt.timedelta(minutes=1))
    inactive = WorkshopSessionFactory(is_active=False)

    assert list(WorkshopSession.objects.active()) == [live]
    assert list(WorkshopSession.objects.expired()) == [expired]
    assert expired.is_expired
    assert not expired.accepts_progress
    assert not inactive.accepts_progress
    assert live.accepts_progress


def test_anonymous_students_are_marked_by_their_reserved_address():
    anonymous = StudentFactory(student_email=anonymous_email("ws_123"))
    named = StudentFactory(student_email="ada@example.com")

    assert anonymous.is_anonymous
    assert not named.is_anonymous
    assert list(Student.objects.anonymous()) == [anonymous]
    assert list(Student.objects.identified()) == [named]
    assert str(anonymous).startswith("Anonymous student ")


def test_emails_are_normalized_trimmed_and_lowercased():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"
