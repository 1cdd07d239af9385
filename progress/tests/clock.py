"""Make time pass for a session without waiting.

The server measures the time on a step with the database's clock (progress.activity). On
PostgreSQL a test runs in one transaction, where NOW() stands still; the `database_clock`
fixture stops SQLite's clock the same way. With the clock standing still, a test moves the
session's last sighting back by N seconds and the next request measures exactly N.
"""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from progress.models import StepProgress
from workshop.expressions import SqlNow


class DatabaseClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frozen = timezone.now().replace(microsecond=0)
        if connection.vendor == "sqlite":
            clock = self

            def frozen_now(expression, compiler, connection, **extra_context):
                return "%s", [connection.ops.adapt_datetimefield_value(clock.frozen)]

            monkeypatch.setattr(SqlNow, "as_sqlite", frozen_now)

    def now(self) -> dt.datetime:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT NOW()")
                return cursor.fetchone()[0]
        return self.frozen

    def last_seen_ago(self, session_token: str, step_number: int, seconds: int) -> None:
        """Pretend the session's latest request came `seconds` ago, on this step (its other
        steps were seen before that)."""
        moment = self.now() - dt.timedelta(seconds=seconds)
        rows = StepProgress.objects.filter(session_id=session_token)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # The updated_at trigger would stamp NOW() over the values written here.
                cursor.execute("ALTER TABLE step_progress DISABLE TRIGGER USER")
            try:
                rows.filter(step_number=step_number).update(updated_at=moment)
                rows.exclude(step_number=step_number).update(
                    updated_at=moment - dt.timedelta(seconds=1)
                )
            finally:
                if connection.vendor == "postgresql":
                    cursor.execute("ALTER TABLE step_progress ENABLE TRIGGER USER")


@pytest.fixture
def database_clock(monkeypatch) -> DatabaseClock:
    return DatabaseClock(monkeypatch)
