"""Django's PostgreSQL backend, with the health check (CONN_HEALTH_CHECKS) only for a
persistent connection that has sat idle.

Django checks a reused connection with a `SELECT 1` before the first query of every request.
That catches what happens to a connection while nobody uses it (PostgreSQL restarted, a
firewall or a pooler dropped it), at the price of one more round trip per request: on the
API's busiest read a quarter of the work PostgreSQL does for it (docs/benchmarks.md, "GET by
token to half the limit"). A connection that answered a request moments ago has just proved
itself, so it is checked only when its last answer is older than IDLE_BEFORE_CHECK seconds.
A connection that breaks between two busy requests fails that request's query as it would
without checks (the API answers 503, "retry"); Django then finds it unusable and closes it,
and the next request connects again.
"""

import time

from django.db.backends.postgresql import base

# A connection idle this long gets Django's health check before it is used again.
IDLE_BEFORE_CHECK = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    answered_at: float | None = None

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self.answered_at is not None
            and time.monotonic() - self.answered_at < IDLE_BEFORE_CHECK
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:
        # Called as a request starts and as it ends. `health_check_done` is set again only
        # once the connection is used (or connected, or checked) in that request: so here it
        # says the request that just ended used the connection, and no error means it answered.
        answered = (
            self.connection is not None and self.health_check_done and not self.errors_occurred
        )
        super().close_if_unusable_or_obsolete()
        if self.connection is None:
            self.answered_at = None
        elif answered:
            self.answered_at = time.monotonic()
