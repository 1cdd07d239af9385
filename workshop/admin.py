"""Admin for students and sessions."""

from django.contrib import admin

from analytics.student_data import STUDENT_DATA_ACTIONS
from workshop.crypto import mask_secret
from workshop.models import Student, WorkshopSession


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    list_display = ["student_email", "student_name", "github_username", "created_at"]
    search_fields = ["student_email", "student_name", "github_username"]
    actions = [*STUDENT_DATA_ACTIONS]


@admin.register(WorkshopSession)
class WorkshopSessionAdmin(admin.ModelAdmin):
    list_display = ["session_token", "student", "current_step", "completion_rate", "is_active"]
    list_select_related = ["student"]
    search_fields = ["session_token", "student__student_email"]
    # The stored key is ciphertext; the admin only says whether one is set.
    exclude = ["openai_api_key"]
    readonly_fields = ["openai_api_key_status"]
    raw_id_fields = ["student"]

    @admin.display(description="OpenAI API key")
    def openai_api_key_status(self, obj: WorkshopSession) -> str:
        return mask_secret(obj.openai_api_key)
