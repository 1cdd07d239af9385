"""What a progress POST counts: THE heartbeat rule and THE server-measured time on a step.

The real frontend POSTs its whole state on every keystroke, always with `timeSpent: 0`.
- An update that changes nothing (a step already started, not newly completed, no time, no
  code, no URL) is a heartbeat: it counts as activity, never as an attempt or a
  `step_progress` event, so `attempts` stays a count of real submissions.
- When the client sends no time, the server measures it: each request on a step adds the
  time since the session's previous request when that request was on the same step, unless
  the gap reaches the idle limit (PROGRESS_IDLE_LIMIT_SECONDS: the student was away). The
  previous request's moment and step are the session's most recently written step row
  (`step_progress.updated_at`, stamped by every write of a step), so no column is added and
  no query: the progress service reads the session's step rows anyway. Moments come from
  the database's clock, the one that stamps updated_at, never from the app server's.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings


def idle_limit() -> dt.timedelta:
    return dt.timedelta(seconds=settings.PROGRESS_IDLE_LIMIT_SECONDS)


def last_seen_on_step(rows: Iterable[Mapping[str, Any]], step_number: int) -> dt.datetime | None:
    """When the session's previous request was on this step: the moment its step row was last
    written, provided no other step of the session was written since; else None."""
    latest = None
    for row in rows:
        seen = row.get("updated_at")
        if seen is not None and (latest is None or seen > latest["updated_at"]):
            latest = row
    if latest is None or latest["step_number"] != step_number:
        return None
    return latest["updated_at"]


def measured_seconds(*, last_seen: dt.datetime | None, now: dt.datetime) -> int:
    """Seconds to add for a request at `now` on a step last seen at `last_seen`.

    Counted as whole-second boundaries crossed, so a burst of sub-second keystrokes adds up
    exactly (3 s of typing at 10 keys a second adds 3, not 0 or 30).
    """
    if last_seen is None:
        return 0
    gap = now - last_seen
    if gap <= dt.timedelta(0) or gap >= idle_limit():
        return 0
    return max(0, int(now.timestamp()) - int(last_seen.timestamp()))


def is_heartbeat(
    *,
    step_started: bool,
    first_completion: bool,
    time_sent: int,
    code_submitted: str | None,
    deployment_url: str | None,
) -> bool:
    """Whether an update changes nothing but the student's activity."""
    return (
        step_started
        and not first_completion
        and not time_sent
        and code_submitted is None
        and deployment_url is None
    )
