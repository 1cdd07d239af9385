"""Admin for workshop sessions (with their steps inline) and the read-only step rows.

The session admin is here, not in workshop/admin.py, because it shows step rows and its
"recalculate progress" action calls progress.services: `progress` may depend on `workshop`,
never the reverse.
"""

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html

from progress.models import StepProgress
from progress.services import recalculate_session
from workshop.admin import ReadOnlyAdminMixin, StudentOrTokenSearchMixin
from workshop.admin_actions import deactivate_sessions, extend_sessions
from workshop.crypto import mask_secret
from workshop.csv_export import csv_response
from workshop.models import WorkshopSession
from workshop.steps import STEP_CHOICES

TOKEN_DISPLAY_LENGTH = 14


def short_token(token: str | None) -> str:
    if not token:
        return ""
    return token if len(token) <= TOKEN_DISPLAY_LENGTH else token[:TOKEN_DISPLAY_LENGTH] + "…"


def human_duration(seconds: int | None) -> str:
    if not seconds:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


# ---------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------
class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Expired"), ("no", "Not expired")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.expired()
        if self.value() == "no":
            return queryset.exclude(expires_at__lte=timezone.now())
        return queryset


class CompletionBandFilter(admin.SimpleListFilter):
    title = "completion"
    parameter_name = "completion"
    BANDS = {
        "0": ("Not started (0%)", Q(completion_rate=0)),
        "1-49": ("1-49%", Q(completion_rate__gte=1, completion_rate__lte=49)),
        "50-99": ("50-99%", Q(completion_rate__gte=50, completion_rate__lte=99)),
        "100": ("Completed (100%)", Q(completion_rate=100)),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.BANDS.items()]

    def queryset(self, request, queryset):
        band = self.BANDS.get(self.value() or "")
        return queryset.filter(band[1]) if band else queryset


class CurrentStepFilter(admin.SimpleListFilter):
    """Choices from the catalogue, not a SELECT DISTINCT over the table."""

    title = "current step"
    parameter_name = "current_step"
    field = "current_step"

    def lookups(self, request, model_admin):
        return [("0", "0. Not started"), *((str(n), label) for n, label in STEP_CHOICES)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is not None and value.isdigit():
            return queryset.filter(**{self.field: int(value)})
        return queryset


class StepNumberFilter(CurrentStepFilter):
    title = "step"
    parameter_name = "step_number"
    field = "step_number"

    def lookups(self, request, model_admin):
        return [(str(n), label) for n, label in STEP_CHOICES]


# ---------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------
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


SESSION_CSV_HEADER = [
    "session_token",
    "student_email",
    "student_name",
    "started_at",
    "last_activity",
    "expires_at",
    "is_active",
    "demo_mode",
    "current_step",
    "completion_rate",
    "total_time_spent",
]


@admin.register(WorkshopSession)
class WorkshopSessionAdmin(StudentOrTokenSearchMixin, admin.ModelAdmin):
    list_display = [
        "token",
        "student",
        "current_step",
        "completion",
        "time_spent",
        "is_active",
        "demo_mode",
        "expires_at",
    ]
    list_select_related = ["student"]
    list_filter = [
        "is_active",
        ExpiryFilter,
        "demo_mode",
        CompletionBandFilter,
        CurrentStepFilter,
    ]
    search_fields = ["session_token", "student__student_email"]
    token_key = "pk"
    ordering = ["-last_activity"]
    list_per_page = 50
    raw_id_fields = ["student"]
    # The stored key is ciphertext; the admin only ever says whether one is set.
    exclude = ["openai_api_key"]
    readonly_fields = [
        "openai_api_key_status",
        "current_step",
        "completion_rate",
        "total_time_spent",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["session_token", "student", "is_active", "demo_mode"]}),
        ("Time", {"fields": ["started_at", "last_activity", "expires_at"]}),
        (
            "Progress (recalculated from the steps)",
            {"fields": ["current_step", "completion_rate", "total_time_spent"]},
        ),
        (
            "Workshop configuration",
            {
                "classes": ["collapse"],
                "fields": [
                    "use_case_description",
                    "call_direction",
                    "selected_phone_number",
                    "tts_provider",
                    "selected_voice",
                    "openai_api_key_status",
                    "system_prompt",
                    "ivr_greeting",
                    "tools",
                    "voice_settings",
                ],
            },
        ),
        (
            "Deployment",
            {
                "classes": ["collapse"],
                "fields": ["websocket_url", "codespace_url", "github_repo_url", "railway_url"],
            },
        ),
        ("Bug reports", {"classes": ["collapse"], "fields": ["bug_reports"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [StepProgressInline]
    actions = ["recalculate_progress", "deactivate", "extend_expiry", "export_csv"]

    def get_readonly_fields(self, request, obj=None):
        # The primary key is chosen once, when a session is created here.
        if obj is not None:
            return [*self.readonly_fields, "session_token"]
        return self.readonly_fields

    @admin.display(description="token", ordering="session_token")
    def token(self, obj: WorkshopSession) -> str:
        return short_token(obj.session_token)

    @admin.display(description="completion", ordering="completion_rate")
    def completion(self, obj: WorkshopSession) -> str:
        rate = max(0, min(100, obj.completion_rate or 0))
        # An SVG bar: its width is an attribute, since the CSP allows no inline style.
        return format_html(
            '<span class="completion"><svg class="completion-bar" viewBox="0 0 100 10" '
            'preserveAspectRatio="none" role="img" aria-label="{}%"><rect width="{}" '
            'height="10"/></svg> {}%</span>',
            rate,
            rate,
            rate,
        )

    @admin.display(description="time spent", ordering="total_time_spent")
    def time_spent(self, obj: WorkshopSession) -> str:
        return human_duration(obj.total_time_spent)

    @admin.display(description="OpenAI API key")
    def openai_api_key_status(self, obj: WorkshopSession) -> str:
        return mask_secret(obj.openai_api_key)

    @admin.action(description="Recalculate progress from the steps")
    def recalculate_progress(self, request, queryset) -> None:
        tokens = list(queryset.values_list("session_token", flat=True))
        with transaction.atomic():
            for token in tokens:
                recalculate_session(session_token=token)
        self.message_user(request, f"Recalculated {len(tokens)} session(s).", messages.SUCCESS)

    @admin.action(description="Deactivate (refuse further progress)")
    def deactivate(self, request, queryset) -> None:
        tokens = list(queryset.values_list("session_token", flat=True))
        changed = deactivate_sessions(session_tokens=tokens)
        self.message_user(request, f"Deactivated {changed} session(s).", messages.SUCCESS)

    @admin.action(description="Extend expiry by 24 hours")
    def extend_expiry(self, request, queryset) -> None:
        tokens = list(queryset.values_list("session_token", flat=True))
        changed = extend_sessions(session_tokens=tokens)
        self.message_user(request, f"Extended {changed} session(s) by 24 h.", messages.SUCCESS)

    @admin.action(description="Export selected sessions as CSV")
    def export_csv(self, request, queryset):
        rows = (
            [
                s.session_token,
                s.student.student_email,
                s.student.student_name,
                s.started_at.isoformat() if s.started_at else "",
                s.last_activity.isoformat() if s.last_activity else "",
                s.expires_at.isoformat() if s.expires_at else "",
                s.is_active,
                s.demo_mode,
                s.current_step,
                s.completion_rate,
                s.total_time_spent,
            ]
            for s in queryset.select_related("student").iterator(chunk_size=2000)
        )
        return csv_response(filename="sessions.csv", header=SESSION_CSV_HEADER, rows=rows)


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
        "attempts",
        "time_spent",
        "validation_passed",
        "started_at",
        "completed_at",
    ]
    list_filter = [StepNumberFilter, "validation_passed", "started_at"]
    list_select_related = ["session", "student"]
    search_fields = ["session__session_token", "student__student_email"]
    # Newest first along the primary key: sorting a million rows by started_at took a second.
    ordering = ["-id"]
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description="session", ordering="session_id")
    def token(self, obj: StepProgress) -> str:
        return short_token(obj.session_id)
