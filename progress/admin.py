"""Admin of step rows (read-only: the progress API writes them), and what the session admin
(workshop/admin.py) shows of them: the steps inline and the "recalculate progress" action.
"""

from django.contrib import admin, messages
from django.db import transaction

from progress.models import StepProgress
from progress.totals import recalculate_session
from workshop.admin import (
    CurrentStepFilter,
    ReadOnlyAdminMixin,
    StudentOrTokenSearchMixin,
    WorkshopSessionAdmin,
    formatted_column,
    short_token,
)
from workshop.formatting import format_datetime, format_duration, format_number
from workshop.models import large_json_columns
from workshop.steps import STEP_CHOICES


class StepNumberFilter(CurrentStepFilter):
    title = "step"
    parameter_name = "step_number"
    field = "step_number"

    def lookups(self, request, model_admin):
        return [(str(n), label) for n, label in STEP_CHOICES]


class StepProgressInline(admin.TabularInline):
    model = StepProgress
    fields = [
        "step_number",
        "step_name",
        "attempts",
        "time_spent",
        "validation_passed",
        "started_at",
        "completed_at",
        "deployment_url",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["step_number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Recalculate progress from the steps")
def recalculate_progress(modeladmin, request, queryset) -> None:
    tokens = list(queryset.values_list("session_token", flat=True))
    with transaction.atomic():
        for token in tokens:
            recalculate_session(session_token=token)
    modeladmin.message_user(request, f"Recalculated {len(tokens)} session(s).", messages.SUCCESS)


# The session page shows its steps, and can recompute its totals from them.
WorkshopSessionAdmin.inlines = [*WorkshopSessionAdmin.inlines, StepProgressInline]
WorkshopSessionAdmin.actions = [recalculate_progress, *WorkshopSessionAdmin.actions]


# ---------------------------------------------------------------------------------------
# Step rows (read-only: they are written by the progress API)
# ---------------------------------------------------------------------------------------
@admin.register(StepProgress)
class StepProgressAdmin(ReadOnlyAdminMixin, StudentOrTokenSearchMixin, admin.ModelAdmin):
    list_display = [
        "token",
        "student",
        "step_number",
        "step_name",
        formatted_column("attempts", format_number),
        formatted_column("time_spent", format_duration, "time spent"),
        "validation_passed",
        formatted_column("started_at", format_datetime, "started"),
        formatted_column("completed_at", format_datetime, "completed"),
    ]
    list_filter = [StepNumberFilter, "validation_passed", "started_at"]
    list_select_related = ["session", "student"]
    search_fields = ["session__session_token", "student__student_email"]
    # Newest first along the primary key: sorting a million rows by started_at took a second.
    ordering = ["-id"]
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        # Lists and forms alike read the submitted code only where the form shows it.
        queryset = super().get_queryset(request).select_related("session", "student")
        queryset = queryset.defer(*large_json_columns("session__"))
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("code_submitted")
        return queryset

    @admin.display(description="session", ordering="session_id")
    def token(self, obj: StepProgress) -> str:
        return short_token(obj.session_id)
