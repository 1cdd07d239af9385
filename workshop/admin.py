"""Admin of the core app's models: students and workshop sessions, and the pieces the other
apps' admins share (read-only rows, search by student or token, short tokens, filters).

Each model's admin is registered by its own app. What the pages show from the apps above
(`workshop` knows neither `progress` nor `analytics`) those apps add when their admin loads:
progress/admin.py the session's step rows and its "recalculate progress" action,
analytics/admin.py the student's data-subject actions.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from workshop.crypto import mask_secret
from workshop.csv_export import csv_response
from workshop.formatting import format_datetime, format_duration, format_number, format_percent
from workshop.models import (
    RunRosterEntry,
    Student,
    WorkshopRun,
    WorkshopSession,
    large_json_columns,
)
from workshop.run_services import ROSTER_MAX_BYTES, import_roster_csv
from workshop.services import deactivate_sessions, extend_sessions
from workshop.session_config import JSON_COLUMNS, SECRET_COLUMN, TEXT_COLUMNS, Group, columns_of
from workshop.steps import STEP_CHOICES

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


class ReadOnlyAdminMixin:
    """For rows only the application writes (step progress, the event log): instructors look,
    nobody edits, adds or deletes them by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class StudentOrTokenSearchMixin:
    """Admin search of a table keyed by student and session (sessions, step rows, events):
    each term matches a substring of the student's email or of the session token.

    Django's own search joins students and sessions into the big table and tests every row
    with UPPER(...) LIKE: 1.3 s on 870,000 step rows, 4.7 s on 3.8 million events. Here the
    matching students and sessions are looked up first in their own, small tables, then the
    big table is filtered by those keys through its indexes (docs/benchmarks.md).
    """

    student_key = "student_id"
    token_key = "session_id"

    def get_search_results(self, request, queryset, search_term):
        for term in smart_split(search_term):
            if term[0] in "\"'" and len(term) > 1 and term[0] == term[-1]:
                term = unescape_string_literal(term)
            student_ids = Student.objects.filter(student_email__icontains=term).values_list(
                "pk", flat=True
            )
            tokens = WorkshopSession.objects.filter(session_token__icontains=term).values_list(
                "pk", flat=True
            )
            queryset = queryset.filter(
                Q(**{f"{self.student_key}__in": list(student_ids)})
                | Q(**{f"{self.token_key}__in": list(tokens)})
            )
        return queryset, False


TOKEN_DISPLAY_LENGTH = 14


def formatted_column(field: str, formatter: Callable[[Any], str], description: str | None = None):
    """A list column showing `field` as the dashboards do, sortable by its field.

    `formatter` is one of workshop/formatting.py's: `format_datetime`, `format_number`
    (12 345) or `format_duration` ("1h 02m"). A count and a duration are both integers, so the
    format is named by the caller rather than guessed from the value."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj) -> str:
        return formatter(getattr(obj, field))

    column.__name__ = f"{field}_shown"
    return column


def short_token(token: str | None) -> str:
    if not token:
        return ""
    return token if len(token) <= TOKEN_DISPLAY_LENGTH else token[:TOKEN_DISPLAY_LENGTH] + "…"


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


# ---------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------
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
        formatted_column("last_activity", format_datetime),
        formatted_column("expires_at", format_datetime),
    ]
    list_select_related = ["student"]

    def get_queryset(self, request):
        # The list shows none of the large JSON columns: only the change form reads them.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer(*large_json_columns())
        return queryset

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
    exclude = [SECRET_COLUMN]
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
            Group.CONFIGURATION.value,
            {
                "classes": ["collapse"],
                # The stored key is ciphertext: the admin shows only whether one is set.
                "fields": [
                    "openai_api_key_status" if column == SECRET_COLUMN else column
                    for column in columns_of(Group.CONFIGURATION)
                ],
            },
        ),
        (
            Group.DEPLOYMENT.value,
            {
                "classes": ["collapse"],
                "fields": columns_of(Group.DEPLOYMENT),
            },
        ),
        ("Bug reports", {"classes": ["collapse"], "fields": ["bug_reports"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    # progress/admin.py adds the step rows inline and the "recalculate progress" action.
    inlines: list = []
    actions = ["deactivate", "extend_expiry", "export_csv"]

    # What students and the API write: read-only on an existing session, so a form opened
    # before a student's bug report or PATCH can never write its stale copy back.
    api_written_fields = [
        "session_token",
        "started_at",
        "last_activity",
        *(column for column in TEXT_COLUMNS),
        *JSON_COLUMNS,
        "bug_reports",
    ]
    # JSON columns whose empty value ([] or {}) is their default, and valid.
    empty_json = {"tools": list, "voice_settings": dict, "bug_reports": list}

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, *self.api_written_fields]
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        for name in self.empty_json:
            if name in form.base_fields:
                form.base_fields[name].required = False
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            for name, empty in self.empty_json.items():
                if getattr(obj, name) is None:
                    setattr(obj, name, empty())
            obj.save()
            return
        # Only the fields this form changed: everything else stays as the database has it.
        changed = [name for name in form.changed_data if name not in self.api_written_fields]
        if changed:
            obj.save(update_fields=changed)

    @admin.display(description="token", ordering="session_token")
    def token(self, obj: WorkshopSession) -> str:
        return short_token(obj.session_token)

    @admin.display(description="completion", ordering="completion_rate")
    def completion(self, obj: WorkshopSession) -> str:
        rate = max(0, min(100, obj.completion_rate or 0))
        # An SVG bar: its width is an attribute, since the CSP allows no inline style.
        return format_html(
            '<span class="completion"><svg class="completion-bar" viewBox="0 0 100 10" '
            'preserveAspectRatio="none" role="img" aria-label="{}"><rect width="{}" '
            'height="10"/></svg> {}</span>',
            format_percent(rate),
            rate,
            format_percent(rate),
        )

    @admin.display(description="time spent", ordering="total_time_spent")
    def time_spent(self, obj: WorkshopSession) -> str:
        return format_duration(obj.total_time_spent or 0)

    @admin.display(description="OpenAI API key")
    def openai_api_key_status(self, obj: WorkshopSession) -> str:
        return mask_secret(obj.openai_api_key)

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
# Students
# ---------------------------------------------------------------------------------------
@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "student_name",
        "github_username",
        "session_count",
        "best_completion",
        "last_active",
    ]
    search_fields = ["student_email", "student_name", "github_username"]
    # analytics/admin.py adds the data-subject actions (export, erase, anonymize).
    actions: list = []
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

    @admin.display(description="Email", ordering="student_email")
    def email(self, obj: Student) -> str:
        # Anonymous students read the same as on the dashboards.
        return "anonymous" if obj.is_anonymous else obj.student_email

    @admin.display(description="sessions", ordering="session_count")
    def session_count(self, obj: Student) -> str:
        return format_number(obj.session_count)

    @admin.display(description="best completion", ordering="best_completion_rate")
    def best_completion(self, obj: Student) -> str:
        return format_percent(obj.best_completion_rate)

    @admin.display(description="last active", ordering="last_active_at")
    def last_active(self, obj: Student) -> str:
        return format_datetime(obj.last_active_at)


# ---------------------------------------------------------------------------------------
# Workshop runs
# ---------------------------------------------------------------------------------------
class RunRosterEntryInline(admin.TabularInline):
    model = RunRosterEntry
    fields = ["email", "name"]
    extra = 0


class WorkshopRunForm(forms.ModelForm):
    roster_csv = forms.FileField(
        required=False,
        label="Import roster (CSV)",
        help_text=(
            "A CSV with an email column (and optionally a name column), or one email per "
            "line. Added to the roster below; existing entries are kept."
        ),
    )

    class Meta:
        model = WorkshopRun
        fields = ["name", "starts_at", "ends_at", "location", "instructors"]

    def clean_roster_csv(self):
        upload = self.cleaned_data.get("roster_csv")
        if upload is None:
            return None
        if upload.size > ROSTER_MAX_BYTES:
            raise forms.ValidationError("The roster file is larger than 2 MB.")
        return upload.read()

    def clean(self):
        cleaned = super().clean()
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The run must end after it starts.")
        return cleaned


@admin.register(WorkshopRun)
class WorkshopRunAdmin(admin.ModelAdmin):
    form = WorkshopRunForm
    list_display = [
        "name",
        formatted_column("starts_at", format_datetime, "starts"),
        formatted_column("ends_at", format_datetime, "ends"),
        "location",
        "instructor_names",
        "roster_size",
    ]
    list_filter = ["starts_at"]
    search_fields = ["name", "location", "instructors__username"]
    ordering = ["-starts_at"]
    filter_horizontal = ["instructors"]
    inlines = [RunRosterEntryInline]
    fieldsets = [
        (None, {"fields": ["name", ("starts_at", "ends_at"), "location", "instructors"]}),
        ("Roster", {"fields": ["roster_csv"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(roster_size=Count("roster", distinct=True))
            .prefetch_related("instructors")
        )

    @admin.display(description="Instructors")
    def instructor_names(self, run: WorkshopRun) -> str:
        return ", ".join(user.get_username() for user in run.instructors.all()) or "-"

    @admin.display(description="Roster", ordering="roster_size")
    def roster_size(self, run: WorkshopRun) -> str:
        return format_number(run.roster_size)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        data = form.cleaned_data.get("roster_csv")
        if not data:
            return
        try:
            result = import_roster_csv(run=form.instance, data=data)
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
            return
        self.message_user(
            request,
            f"Roster: {result.added} added, {result.already_there} already there.",
            messages.SUCCESS,
        )
        for line, reason in result.rejected[:20]:
            self.message_user(request, f"Roster line {line}: {reason}", messages.WARNING)
