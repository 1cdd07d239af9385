"""Admin pieces of the core app: the site's titles and the sessions inline.

The admin pages themselves combine apps, so each is registered by the app allowed to depend
on what it shows (`workshop` knows neither `progress` nor `analytics`): the session admin in
progress/admin.py (step rows, recalculation), the student admin in analytics/admin.py (its
actions export and erase a student's steps and events).
"""

from django.contrib import admin

from workshop.models import WorkshopSession

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
