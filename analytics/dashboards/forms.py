"""Query-string forms of the dashboards: the shared filters and each page's own choices."""

import datetime as dt

from django import forms
from django.utils import timezone

from analytics.dashboards.selectors import (
    DEFAULT_STUCK_THRESHOLD,
    STUCK_THRESHOLDS,
    DashboardFilters,
)
from workshop.runs import pick_default_run, runs_visible_to

DEMO_CHOICES = [("include", "Include demo sessions"), ("exclude", "Exclude demo sessions")]


ALL_RUNS = "all"
# Presets of the period filter: sessions started within the last hour, since midnight (site
# time zone) or within the last 7 days; "" leaves the run's (or the dates') window.
PERIOD_CHOICES = [
    ("", "This run"),
    ("hour", "Last hour"),
    ("today", "Today"),
    ("7d", "Last 7 days"),
]


def _period_start(period: str, now: dt.datetime) -> dt.datetime | None:
    if period == "hour":
        return now - dt.timedelta(hours=1)
    if period == "today":
        return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "7d":
        start = timezone.localtime(now) - dt.timedelta(days=6)
        return start.replace(hour=0, minute=0, second=0, microsecond=0)
    return None


class DashboardFilterForm(forms.Form):
    """The workshop run, a period preset, a date range (session start) and demo sessions, on
    every page. All optional: the run defaults to the user's run in progress now (else their
    latest run); superusers may pick "all runs"."""

    run = forms.ChoiceField(required=False, label="Run")
    period = forms.ChoiceField(choices=PERIOD_CHOICES, required=False, label="Period")
    start = forms.DateField(
        required=False,
        label="Sessions started from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = forms.DateField(
        required=False, label="to", widget=forms.DateInput(attrs={"type": "date"})
    )
    demo = forms.ChoiceField(choices=DEMO_CHOICES, required=False, label="Demo sessions")

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.runs = list(runs_visible_to(user)) if user is not None else []
        choices = [(str(run.pk), str(run)) for run in self.runs]
        if user is not None and user.is_superuser:
            choices.append((ALL_RUNS, "All runs"))
        self.fields["run"].choices = [("", "Current run"), *choices]
        self.selected_run = None

    def clean_run(self) -> str:
        value = self.cleaned_data.get("run") or ""
        if value and value != ALL_RUNS:
            self.selected_run = next(run for run in self.runs if str(run.pk) == value)
        elif not value and self.user is not None:
            self.selected_run = pick_default_run(self.runs)
        return value

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date must not be before the start date.")
        return cleaned

    @property
    def sees_all_runs(self) -> bool:
        return bool(self.user is not None and self.user.is_superuser and not self.selected_run)

    def filters(self, now: dt.datetime | None = None) -> DashboardFilters:
        data = self.cleaned_data
        return DashboardFilters(
            started_from=data.get("start"),
            started_to=data.get("end"),
            include_demo=data.get("demo") != "exclude",
            run=self.selected_run,
            # Without a user (scripts, tests of selectors) nothing is restricted.
            no_runs=self.user is not None and not self.sees_all_runs and not self.selected_run,
            started_after=_period_start(data.get("period") or "", now or timezone.now()),
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
