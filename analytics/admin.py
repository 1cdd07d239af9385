"""Admin for the event log: read-only (it is an audit trail), with the data pretty-printed."""

import json

from django.contrib import admin
from django.utils.html import format_html

from analytics.models import Event
from progress.admin import short_token


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event_type", "student", "token", "step"]
    list_filter = ["event_type", "created_at"]
    list_select_related = ["student", "session"]
    search_fields = ["session__session_token", "student__student_email"]
    ordering = ["-created_at", "-id"]
    fields = ["created_at", "event_type", "student", "session", "data"]
    readonly_fields = fields
    list_per_page = 100
    # A COUNT(*) over millions of events on every page view buys nothing here.
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="session", ordering="session_id")
    def token(self, obj: Event) -> str:
        return short_token(obj.session_id)

    @admin.display(description="step")
    def step(self, obj: Event) -> str:
        data = obj.event_data if isinstance(obj.event_data, dict) else {}
        value = data.get("stepNumber", data.get("step_number", ""))
        return "" if value is None else str(value)

    @admin.display(description="event data")
    def data(self, obj: Event) -> str:
        pretty = json.dumps(obj.event_data, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", pretty)
