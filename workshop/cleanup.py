"""Operator tasks on sessions alone (no steps, no events): the expired-session cleanup.

Batched: each batch is its own short transaction over at most BATCH_SIZE rows picked by primary
key, so the cleanup never holds locks on the tables for long and can be interrupted at any
point (what is done stays done; a re-run continues).
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workshop.batches import iter_pk_batches
from workshop.models import WorkshopSession

BATCH_SIZE = 5000


@dataclass
class CleanupReport:
    dry_run: bool
    deactivated: int = 0
    deleted_sessions: int = 0
    deleted_rows: Counter = field(default_factory=Counter)  # model label -> rows, cascades


def cleanup_sessions(
    *,
    delete_inactive_older_than_days: int | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str], None] = lambda message: None,
) -> CleanupReport:
    """Deactivate expired sessions and clear their openai_api_key (the data is kept); with
    `delete_inactive_older_than_days`, delete inactive sessions idle that long (cascading to
    their steps and events)."""
    report = CleanupReport(dry_run=dry_run)
    now = timezone.now()
    # Also catches sessions already inactive that still hold a secret.
    expired = WorkshopSession.objects.filter(expires_at__lte=now).exclude(
        is_active=False, openai_api_key__isnull=True
    )
    if dry_run:
        report.deactivated = expired.count()
    else:
        for batch in iter_pk_batches(expired, batch_size):
            with transaction.atomic():
                report.deactivated += WorkshopSession.objects.filter(pk__in=batch).update(
                    is_active=False, openai_api_key=None
                )
            progress(f"deactivated {report.deactivated} expired sessions")

    if delete_inactive_older_than_days is None:
        return report
    cutoff = now - timedelta(days=delete_inactive_older_than_days)
    old = WorkshopSession.objects.filter(is_active=False, last_activity__lt=cutoff)
    if dry_run:
        # Expired sessions would have been deactivated first, so they count as inactive.
        report.deleted_sessions = (
            WorkshopSession.objects.filter(last_activity__lt=cutoff)
            .filter(Q(is_active=False) | Q(expires_at__lte=now))
            .count()
        )
        return report
    for batch in iter_pk_batches(old, batch_size):
        with transaction.atomic():
            _, per_model = WorkshopSession.objects.filter(pk__in=batch).delete()
        report.deleted_rows.update(per_model)
        report.deleted_sessions = report.deleted_rows[WorkshopSession._meta.label]
        progress(f"deleted {report.deleted_sessions} inactive sessions")
    return report
