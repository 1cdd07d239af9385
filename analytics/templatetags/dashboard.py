"""Template filters of the dashboards."""

import datetime as dt
import json

from django import template

from workshop.formatting import (
    EMPTY,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
)

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as "1h 02m", "4m 05s" or "12s"; an empty cell for unknown values."""
    return format_duration(seconds)


@register.filter
def moment(value: dt.datetime | None) -> str:
    """A date and time as every page writes it ("2026-03-04 05:06")."""
    return format_datetime(value)


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
    return format_percent(value)


@register.filter
def number(value) -> str:
    """Counts with a thin thousands separator (12 345), the dashboards' one number format."""
    return format_number(value)


@register.filter
def shown_email(student) -> str:
    """A student's email as every page shows it: "anonymous" for the reserved placeholder."""
    return "anonymous" if student.is_anonymous else student.student_email
