"""Writes behind the session admin's bulk actions: deactivate, extend expiry.

Each is one UPDATE over the selected sessions, in its own transaction.
"""

import datetime as dt
from collections.abc import Collection

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from workshop.models import WorkshopSession

EXTENSION = dt.timedelta(hours=24)


@transaction.atomic
def deactivate_sessions(*, session_tokens: Collection[str]) -> int:
    """Sessions stop accepting progress. Returns how many were active before."""
    return WorkshopSession.objects.filter(session_token__in=session_tokens, is_active=True).update(
        is_active=False
    )


@transaction.atomic
def extend_sessions(*, session_tokens: Collection[str], by: dt.timedelta = EXTENSION) -> int:
    """Push expiry `by` later. An already expired (or never set) expiry counts from now, so
    an extended session always has `by` ahead of it. Returns the number of sessions."""
    now = Value(timezone.now())
    return WorkshopSession.objects.filter(session_token__in=session_tokens).update(
        expires_at=Greatest(Coalesce(F("expires_at"), now), now) + by
    )
