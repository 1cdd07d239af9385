"""Template filters of the dashboards."""

import datetime as dt
import json

from django import template

from workshop.formatting import human_duration

register = template.Library()

# What an empty numeric cell shows (an en dash, as typeset tables do).
EMPTY = "\N{EN DASH}"


@register.filter
def duration(seconds) -> str:
    """Seconds as "1h 02m", "4m 05s" or "12s"; an empty cell for unknown values."""
    if seconds is None or seconds == "":
        return EMPTY
    return human_duration(seconds)


@register.filter
def idle_since(moment: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago `moment` was, as a duration."""
    if moment is None:
        return EMPTY
    return duration((now - moment).total_seconds())


@register.filter
def pretty_json(value) -> str:
    """JSON indented for a <pre> block (autoescaped by the template like any text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def percent(value) -> str:
    return EMPTY if value is None else f"{value:g}%"


@register.filter
def number(value) -> str:
    """Counts with a thin thousands separator (12 345), the dashboards' one number format."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "\N{THIN SPACE}")
    return f"{int(value):,}".replace(",", "\N{THIN SPACE}")


@register.filter
def shown_email(student) -> str:
    """A student's email as every page shows it: "anonymous" for the reserved placeholder."""
    return "anonymous" if student.is_anonymous else student.student_email
