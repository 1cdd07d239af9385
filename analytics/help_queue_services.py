"""Writes of the help queue: "I'm on it" (claim), letting go, and "resolved".

The state lives in analytics.HelpQueueState, one row per session. Resolving also lets go of
the claim; a new signal after `resolved_at` puts the session back in the queue
(analytics/dashboards/cockpit_selectors.py decides what a signal is).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from analytics.models import HelpQueueState
from workshop.models import WorkshopSession


@transaction.atomic
def claim_session(*, session: WorkshopSession, user: AbstractBaseUser) -> HelpQueueState:
    """The instructor is on it: every instructor's queue shows who (the last to claim wins)."""
    state, _ = HelpQueueState.objects.select_for_update().get_or_create(session=session)
    state.claimed_by, state.claimed_at = user, timezone.now()
    state.save(update_fields=["claimed_by", "claimed_at"])
    return state


@transaction.atomic
def release_session(*, session: WorkshopSession) -> None:
    HelpQueueState.objects.filter(session=session).update(claimed_by=None, claimed_at=None)


@transaction.atomic
def resolve_session(*, session: WorkshopSession, user: AbstractBaseUser) -> HelpQueueState:
    """Hidden from the queue until a new signal; the claim ends with it."""
    state, _ = HelpQueueState.objects.select_for_update().get_or_create(session=session)
    state.resolved_by, state.resolved_at = user, timezone.now()
    state.claimed_by = state.claimed_at = None
    state.save(update_fields=["resolved_by", "resolved_at", "claimed_by", "claimed_at"])
    return state
