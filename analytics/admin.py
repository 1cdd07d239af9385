"""Admin of the event log (read-only: it is an audit trail, with the data pretty-printed),
and the student admin's data-subject actions (workshop/admin.py registers the student admin;
its actions reach into steps and events, so they are added here).
"""

import json

from django.contrib import admin
from django.utils.html import format_html

from analytics.models import Event
from analytics.privacy.subject_requests import STUDENT_DATA_ACTIONS
from workshop.admin import (
    ReadOnlyAdminMixin,
    StudentAdmin,
    StudentOrTokenSearchMixin,
    formatted_column,
    short_token,
)
from workshop.formatting import format_datetime
from workshop.models import large_json_columns

StudentAdmin.actions = [*StudentAdmin.actions, *STUDENT_DATA_ACTIONS]


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, StudentOrTokenSearchMixin, admin.ModelAdmin):
    list_display = [
        formatted_column("created_at", format_datetime, "created"),
        "event_type",
        "student",
        "token",
        "step",
    ]
    list_filter = ["event_type", "created_at"]
    list_select_related = ["student", "session"]
    search_fields = ["session__session_token", "student__student_email"]
    ordering = ["-created_at", "-id"]
    fields = ["created_at", "event_type", "student", "session", "data"]
    readonly_fields = fields
    list_per_page = 100
    # A COUNT(*) over millions of events on every page view buys nothing here.
    show_full_result_count = False

    def get_queryset(self, request):
        # The list shows the session's token only: never its large JSON columns.
        return (
            super()
            .get_queryset(request)
            .select_related("student", "session")
            .defer(*large_json_columns("session__"))
        )

    @admin.display(description="session", ordering="session_id")
    def token(self, obj: Event) -> str:
        return short_token(obj.session_id)

    @admin.display(description="step")
    def step(self, obj: Event) -> str:
        return "" if obj.step_number is None else str(obj.step_number)

    @admin.display(description="event data")
    def data(self, obj: Event) -> str:
        pretty = json.dumps(obj.event_data, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", pretty)
