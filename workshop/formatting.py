"""How times and durations are written, the same everywhere (API replies, admin, dashboards)."""

import datetime as dt


def iso_z(value: dt.datetime | None) -> str | None:
    """ISO 8601 with UTC written as "Z" (DRF's own format); None stays None."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def human_duration(seconds: float) -> str:
    """Seconds as "1h 02m", "4m 05s" or "12s" (rounded to whole seconds)."""
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
