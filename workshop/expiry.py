"""When a session expires: THE sliding-expiry rule.

A new session gets the spec's database default (24 hours after its creation); every write
the session accepts moves `expires_at` to that moment plus SESSION_LIFETIME_HOURS, so a
student who keeps working never meets a 410.
"""

import datetime as dt

from django.conf import settings


def session_lifetime() -> dt.timedelta:
    return dt.timedelta(hours=settings.SESSION_LIFETIME_HOURS)


def slid_expiry(now: dt.datetime) -> dt.datetime:
    """The expiry of a session that accepted a write at `now`."""
    return now + session_lifetime()


def activity_changes(now: dt.datetime) -> dict[str, dt.datetime]:
    """The session columns an accepted write at `now` sets: its activity and its expiry."""
    return {"last_activity": now, "expires_at": slid_expiry(now)}
