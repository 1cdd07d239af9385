"""Sessions whose token an earlier import derived from public data move to a random token
(migration analytics 0007, analytics/legacy/tokens.py), keeping their rows (issue 11)."""

import re

import pytest

from analytics.legacy.tokens import rotate_derived_tokens
from analytics.models import Event, LegacySessionToken
from analytics.tests.factories import EventFactory
from progress.models import StepProgress
from progress.tests.factories import StepProgressFactory
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

DERIVED = "legacy-0123456789abcdef01234567"


def test_derived_tokens_are_replaced_by_random_ones_with_everything_moved():
    session = WorkshopSessionFactory(session_token=DERIVED, system_prompt="kept")
    StepProgressFactory(session=session, step_number=1)
    EventFactory(session=session, student=session.student)
    own = WorkshopSessionFactory(session_token="ws_own_token_1")

    assert rotate_derived_tokens() == 1

    new = LegacySessionToken.objects.get(legacy_key=DERIVED).session_token
    assert re.fullmatch(r"ws_[A-Za-z0-9_-]{43}", new)
    assert not WorkshopSession.objects.filter(pk=DERIVED).exists()
    moved = WorkshopSession.objects.get(pk=new)
    assert (moved.student_id, moved.system_prompt) == (session.student_id, "kept")
    assert StepProgress.objects.get().session_id == new
    assert Event.objects.get().session_id == new
    assert WorkshopSession.objects.filter(pk=own.pk).exists()
    assert rotate_derived_tokens() == 0
