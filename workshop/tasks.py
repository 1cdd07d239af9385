"""Scheduled work of the core app (Celery beat, see CELERY_BEAT_SCHEDULE in settings)."""

import logging

from celery import shared_task
from django.db import DatabaseError

from workshop.cleanup import cleanup_sessions

logger = logging.getLogger(__name__)


@shared_task(
    name="workshop.tasks.cleanup_expired_sessions",
    autoretry_for=(DatabaseError,),
    retry_backoff=60,
    max_retries=5,
)
def cleanup_expired_sessions() -> dict:
    """The spec's daily cleanup, as `manage.py cleanup_sessions` runs it by default:
    deactivates expired sessions and clears their keys; deletes nothing. Batched, so a retry
    after an error continues where it stopped."""
    report = cleanup_sessions(delete_inactive_older_than_days=None, dry_run=False)
    logger.info("cleanup_sessions: deactivated %s expired sessions", report.deactivated)
    return {"deactivated": report.deactivated}
