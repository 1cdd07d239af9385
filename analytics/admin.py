"""Admin for students and the event log.

Students: the summary columns instructors sort by, their sessions inline, and the
data-subject actions (export, erase, anonymize), which reach into steps and events.
Events: read-only (it is an audit trail), with the data pretty-printed.
"""

import json

from django.contrib import admin
from django.db.models import Count, Max
from django.utils.html import format_html

from analytics.models import Event
from analytics.privacy.subject_requests import STUDENT_DATA_ACTIONS
from progress.admin import short_token
from workshop.admin import ReadOnlyAdminMixin, StudentOrTokenSearchMixin, WorkshopSessionInline
from workshop.models import Student


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    list_display = [
        "student_email",
        "student_name",
        "github_username",
        "session_count",
        "best_completion",
        "last_active",
    ]
    search_fields = ["student_email", "student_name", "github_username"]
    actions = [*STUDENT_DATA_ACTIONS]
    readonly_fields = ["student_id", "created_at", "updated_at"]
    fields = [
        "student_id",
        "student_email",
        "student_name",
        "github_username",
        "twilio_account_sid",
        "created_at",
        "updated_at",
    ]
    inlines = [WorkshopSessionInline]
    list_per_page = 50
    # The full count would run the GROUP BY over every student a second time.
    show_full_result_count = False

    def get_queryset(self, request):
        # One GROUP BY query for the whole page instead of three per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                session_count=Count("sessions"),
                best_completion_rate=Max("sessions__completion_rate"),
                last_active_at=Max("sessions__last_activity"),
            )
        )

    @admin.display(description="sessions", ordering="session_count")
    def session_count(self, obj: Student) -> int:
        return obj.session_count

    @admin.display(description="best completion", ordering="best_completion_rate")
    def best_completion(self, obj: Student) -> str:
        rate = obj.best_completion_rate
        return "-" if rate is None else f"{rate}%"

    @admin.display(description="last active", ordering="last_active_at")
    def last_active(self, obj: Student):
        return obj.last_active_at


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, StudentOrTokenSearchMixin, admin.ModelAdmin):
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
