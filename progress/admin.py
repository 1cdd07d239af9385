"""Admin for step progress."""

from django.contrib import admin

from progress.models import StepProgress


@admin.register(StepProgress)
class StepProgressAdmin(admin.ModelAdmin):
    list_display = ["session", "step_number", "step_name", "attempts", "validation_passed"]
    list_filter = ["step_number", "validation_passed"]
    list_select_related = ["session"]
    raw_id_fields = ["session", "student"]
