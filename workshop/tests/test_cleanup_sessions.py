"""cleanup_sessions: deactivate and scrub expired sessions; delete old inactive ones on request."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from analytics.models import Event
from analytics.tests.factories import EventFactory
from progress.models import StepProgress
from progress.tests.factories import StepProgressFactory
from workshop.crypto import encrypt_secret
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def cleanup(*args) -> str:
    out = StringIO()
    call_command("cleanup_sessions", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def sessions():
    now = timezone.now()
    key = encrypt_secret("sk-test")
    return {
        "live": WorkshopSessionFactory(expires_at=now + timedelta(hours=1), openai_api_key=key),
        "expired": WorkshopSessionFactory(
            expires_at=now - timedelta(minutes=1),
            last_activity=now - timedelta(days=1),
            openai_api_key=key,
        ),
        "old": WorkshopSessionFactory(
            expires_at=now - timedelta(days=40),
            last_activity=now - timedelta(days=41),
            is_active=False,
        ),
        "old_expired": WorkshopSessionFactory(
            expires_at=now - timedelta(days=39),
            last_activity=now - timedelta(days=40),
            openai_api_key=key,
        ),
    }


def state(session):
    session.refresh_from_db()
    return session.is_active, session.openai_api_key is None


def test_expired_sessions_are_deactivated_and_scrubbed_but_kept(sessions):
    StepProgressFactory(session=sessions["expired"], step_number=2)

    out = cleanup()

    assert state(sessions["expired"]) == (False, True)
    assert state(sessions["old_expired"]) == (False, True)
    assert state(sessions["live"]) == (True, False)
    assert StepProgress.objects.filter(session=sessions["expired"]).count() == 1
    assert WorkshopSession.objects.count() == 4
    assert "Deactivated 2 expired sessions" in out


def test_delete_inactive_older_than_deletes_with_cascade(sessions):
    StepProgressFactory(session=sessions["old"], step_number=1)
    EventFactory(session=sessions["old"])
    EventFactory(session=sessions["expired"])

    out = cleanup("--delete-inactive-older-than", "30")

    assert set(WorkshopSession.objects.values_list("pk", flat=True)) == {
        sessions["live"].pk,
        sessions["expired"].pk,
    }
    assert not StepProgress.objects.exists()
    assert Event.objects.count() == 1
    assert "Deleted 2 inactive sessions idle for over 30 days" in out


def test_batches_cover_everything(sessions):
    out = cleanup("--batch-size", "1", "--delete-inactive-older-than", "30")

    assert "deactivated 1 expired sessions" in out
    assert "deactivated 2 expired sessions" in out
    assert WorkshopSession.objects.count() == 2


def test_dry_run_counts_and_changes_nothing(sessions):
    out = cleanup("--dry-run", "--delete-inactive-older-than", "30")

    assert "Would deactivate 2 expired sessions" in out
    assert "Would delete 2 inactive sessions" in out
    assert state(sessions["expired"]) == (True, False)
    assert WorkshopSession.objects.count() == 4


def test_second_run_finds_nothing(sessions):
    cleanup()

    assert "Deactivated 0 expired sessions" in cleanup()


def test_days_must_be_positive():
    with pytest.raises(CommandError, match="from 1 to 36500 days"):
        cleanup("--delete-inactive-older-than", "0")
