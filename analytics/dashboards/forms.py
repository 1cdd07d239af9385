"""Query-string forms of the dashboards: the shared filters and each page's own choices."""

import datetime as dt

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from analytics.dashboards.selectors import (
    DEFAULT_STUCK_THRESHOLD,
    STUCK_THRESHOLDS,
    DashboardFilters,
)

DEMO_CHOICES = [("include", "Include demo sessions"), ("exclude", "Exclude demo sessions")]


# Dates a filter may name: wide enough for any workshop, narrow enough that the day after the
# end (the exclusive bound) and the start of day in any time zone are still dates.
EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
DATE_RANGE_MESSAGE = f"Enter a date from {EARLIEST_DATE} to {LATEST_DATE}."


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        validators=[
            MinValueValidator(EARLIEST_DATE, DATE_RANGE_MESSAGE),
            MaxValueValidator(LATEST_DATE, DATE_RANGE_MESSAGE),
        ],
    )


class DashboardFilterForm(forms.Form):
    """Date range (session start) and demo sessions, on every page. All optional."""

    start = _date_field("Sessions started from")
    end = _date_field("to")
    demo = forms.ChoiceField(choices=DEMO_CHOICES, required=False, label="Demo sessions")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date must not be before the start date.")
        return cleaned

    def filters(self) -> DashboardFilters:
        data = self.cleaned_data
        return DashboardFilters(
            started_from=data.get("start"),
            started_to=data.get("end"),
            include_demo=data.get("demo") != "exclude",
        )


class StuckForm(forms.Form):
    threshold = forms.ChoiceField(
        choices=[(key, f"idle for more than {key}") for key in STUCK_THRESHOLDS],
        required=False,
        label="Flag as stuck when",
    )

    def threshold_key(self) -> str:
        return self.cleaned_data.get("threshold") or DEFAULT_STUCK_THRESHOLD


class StudentListForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    sort = forms.CharField(required=False, max_length=40)
