"""Scheduled work of the analytics app (Celery beat, see CELERY_BEAT_SCHEDULE in settings)."""

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from analytics.retention import archive_events

logger = logging.getLogger(__name__)


@shared_task(
    name="analytics.archive_old_events",
    autoretry_for=(DatabaseError,),
    retry_backoff=60,
    max_retries=5,
)
def archive_old_events() -> dict:
    """`archive_events --older-than EVENTS_RETENTION_DAYS`, to a file per run in
    EVENTS_ARCHIVE_DIR (deleting only when none is set). Scheduled only when the retention
    is set; batched, so a retry continues where it stopped."""
    days = settings.EVENTS_RETENTION_DAYS
    if days is None:
        return {"archived": 0}
    archive_to = None
    if settings.EVENTS_ARCHIVE_DIR:
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        archive_to = Path(settings.EVENTS_ARCHIVE_DIR) / f"events-{stamp}.jsonl.gz"
    report = archive_events(older_than_days=days, archive_to=archive_to)
    logger.info(
        "archive_events: moved %s events older than %s days to %s",
        report.archived,
        days,
        archive_to or "nowhere (deleted)",
    )
    return {"archived": report.archived, "archive": str(archive_to) if archive_to else None}
