"""Query-string forms of the dashboards: the shared filters and each page's own choices."""

from django import forms

from analytics.dashboards.selectors import (
    DEFAULT_STUCK_THRESHOLD,
    STUCK_THRESHOLDS,
    DashboardFilters,
)

DEMO_CHOICES = [("include", "Include demo sessions"), ("exclude", "Exclude demo sessions")]


class DashboardFilterForm(forms.Form):
    """Date range (session start) and demo sessions, on every page. All optional."""

    start = forms.DateField(required=False, label="Sessions started from")
    end = forms.DateField(required=False, label="to")
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
