"""The daily cleanup as a Celery beat task, at the configured time."""

import datetime as dt

import pytest
from celery.schedules import crontab
from django.utils import timezone

from workshop.celery import app
from workshop.tasks import cleanup_expired_sessions
from workshop.tests.factories import WorkshopSessionFactory


def test_beat_runs_the_cleanup_daily_at_the_configured_time(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["cleanup-sessions"]
    hour, minute = (int(part) for part in settings.CLEANUP_TIME.split(":"))
    assert entry["task"] == cleanup_expired_sessions.name
    assert entry["schedule"] == crontab(hour=hour, minute=minute)
    # Every scheduled task exists.
    app.loader.import_default_modules()
    for name, item in settings.CELERY_BEAT_SCHEDULE.items():
        assert item["task"] in app.tasks, name


@pytest.mark.django_db
def test_the_task_deactivates_expired_sessions_and_deletes_nothing():
    expired = WorkshopSessionFactory(
        expires_at=timezone.now() - dt.timedelta(hours=1), openai_api_key="gAAAA-cipher"
    )
    live = WorkshopSessionFactory()
    assert cleanup_expired_sessions.delay().get() == {"deactivated": 1}
    expired.refresh_from_db()
    live.refresh_from_db()
    assert (expired.is_active, expired.openai_api_key, live.is_active) == (False, None, True)
