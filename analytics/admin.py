"""Admin for the event log (read-only: it is an audit trail)."""

from django.contrib import admin

from analytics.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event_type", "student", "session"]
    list_filter = ["event_type"]
    list_select_related = ["student", "session"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
