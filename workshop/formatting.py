"""How numbers, percentages, times and durations are written, the same everywhere (API replies,
admin, dashboards): the dashboards' template filters and the admin's columns both call these."""

import datetime as dt

from django.utils import dateformat, timezone

# What an empty cell shows (an en dash, as typeset tables do).
EMPTY = "\N{EN DASH}"

# The one date-and-time format of the dashboards and the admin (Django's date format syntax).
DATETIME_FORMAT = "Y-m-d H:i"


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


def format_number(value) -> str:
    """Counts with a thin thousands separator (12 345); one decimal for fractions."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "\N{THIN SPACE}")
    return f"{int(value):,}".replace(",", "\N{THIN SPACE}")


def format_percent(value) -> str:
    """A percentage as "50%" or "33.3%"."""
    return EMPTY if value is None or value == "" else f"{value:g}%"


def format_duration(seconds) -> str:
    """A duration in seconds as human_duration writes it; an empty cell for unknown values."""
    if seconds is None or seconds == "":
        return EMPTY
    return human_duration(seconds)


def format_datetime(value: dt.datetime | None) -> str:
    """A moment in the current time zone as "2026-03-04 05:06"."""
    if value is None:
        return EMPTY
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return dateformat.format(value, DATETIME_FORMAT)
