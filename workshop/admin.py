"""Admin for students: the summary columns instructors sort by, and their sessions inline.

The session admin lives in progress/admin.py: it shows step rows and recalculates progress,
and `workshop` must not depend on `progress`.
"""

from django.contrib import admin
from django.db.models import Count, Max

from workshop.models import Student, WorkshopSession

# The admin's "View site" link leads to the instructors' dashboards.
admin.site.site_url = "/dashboard/"
admin.site.site_header = admin.site.site_title = "Workshop Progress admin"


class WorkshopSessionInline(admin.TabularInline):
    model = WorkshopSession
    fields = [
        "session_token",
        "started_at",
        "last_activity",
        "current_step",
        "completion_rate",
        "is_active",
        "demo_mode",
        "expires_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-started_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


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
