"""cleanup_sessions checks every argument before it writes anything (issue 11)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from workshop.cleanup import cleanup_sessions
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def expired():
    now = timezone.now()
    return WorkshopSessionFactory(expires_at=now - timedelta(minutes=1), is_active=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delete-inactive-older-than", "10000000"], "--delete-inactive-older-than"),
        (["--delete-inactive-older-than", str(2**63)], "--delete-inactive-older-than"),
        (["--batch-size", str(2**63)], "--batch-size"),
    ],
)
def test_out_of_range_arguments_fail_before_anything_is_written(expired, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("cleanup_sessions", *args, stdout=StringIO())

    assert WorkshopSession.objects.get(pk=expired.pk).is_active is True


def test_the_service_refuses_out_of_range_days_before_writing(expired):
    with pytest.raises(ValueError, match="days"):
        cleanup_sessions(delete_inactive_older_than_days=10_000_000)

    assert WorkshopSession.objects.get(pk=expired.pk).is_active is True


def test_the_largest_allowed_age_runs(expired):
    out = StringIO()
    call_command("cleanup_sessions", "--delete-inactive-older-than", "36500", stdout=out)

    assert "Deactivated 1 expired sessions" in out.getvalue()
