"""Students and their workshop sessions: the spec's `students` and `sessions` tables.

Column names, types, nullability and database defaults follow docs/spec/schema-v2.md exactly; the
PostgreSQL-only parts (ON DELETE CASCADE, the `gen_random_uuid()` default, `updated_at`
triggers) come from migration 0002.
"""

import json
import uuid
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from workshop.expressions import SqlNow, SqlNowPlusHours
from workshop.steps import TOTAL_STEPS

SESSION_LIFETIME_HOURS = 24

# Students without a real address get a unique placeholder under this reserved domain
# (RFC 2606: `.invalid` can never be delivered to), which is also what marks them anonymous.
ANONYMOUS_EMAIL_DOMAIN = "anonymous.invalid"


def stored_json(value: Any, kind: type) -> Any:
    """A JSON column's value as `kind` (list or dict), also when legacy data stored it
    double-encoded; anything else reads as an empty one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return kind()
    return kind(value) if isinstance(value, kind) else kind()


def anonymous_email(key: str) -> str:
    """The reserved placeholder address of an anonymous student, unique per `key`."""
    return f"anonymous+{key}@{ANONYMOUS_EMAIL_DOMAIN}".lower()


def normalize_email(email: str) -> str:
    """Emails are compared trimmed and case-insensitively, so they are stored that way."""
    return email.strip().lower()


class StudentQuerySet(models.QuerySet):
    def anonymous(self) -> "StudentQuerySet":
        return self.filter(student_email__endswith=f"@{ANONYMOUS_EMAIL_DOMAIN}")

    def identified(self) -> "StudentQuerySet":
        return self.exclude(student_email__endswith=f"@{ANONYMOUS_EMAIL_DOMAIN}")


class Student(models.Model):
    student_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student_email = models.TextField()
    student_name = models.TextField(null=True, blank=True)
    twilio_account_sid = models.TextField(null=True, blank=True)
    github_username = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)
    updated_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)

    objects = StudentQuerySet.as_manager()

    class Meta:
        db_table = "students"
        ordering = ["student_email"]
        constraints = [
            # Its unique index is also the spec's index on student_email.
            models.UniqueConstraint(fields=["student_email"], name="students_student_email_key"),
        ]

    def __str__(self) -> str:
        if self.is_anonymous:
            return f"Anonymous student {str(self.student_id)[:8]}"
        return self.student_name or self.student_email

    @property
    def is_anonymous(self) -> bool:
        return self.student_email.endswith(f"@{ANONYMOUS_EMAIL_DOMAIN}")


class WorkshopSessionQuerySet(models.QuerySet):
    def active(self) -> "WorkshopSessionQuerySet":
        """Sessions that still accept progress: active and not past their expiry."""
        return self.filter(is_active=True, expires_at__gt=timezone.now())

    def expired(self) -> "WorkshopSessionQuerySet":
        return self.filter(expires_at__lte=timezone.now())


class WorkshopSession(models.Model):
    session_token = models.TextField(primary_key=True)
    student = models.ForeignKey(
        Student,
        on_delete=models.CASCADE,
        db_column="student_id",
        db_index=False,  # the spec's index is declared in Meta
        related_name="sessions",
    )

    # Session metadata
    started_at = models.DateTimeField(null=True, db_default=SqlNow())
    last_activity = models.DateTimeField(null=True, db_default=SqlNow())
    expires_at = models.DateTimeField(null=True, db_default=SqlNowPlusHours(SESSION_LIFETIME_HOURS))
    is_active = models.BooleanField(null=True, default=True, db_default=True)
    demo_mode = models.BooleanField(null=True, default=False, db_default=False)

    # Overall progress
    current_step = models.IntegerField(null=True, default=0, db_default=0)
    total_time_spent = models.IntegerField(null=True, default=0, db_default=0)
    completion_rate = models.IntegerField(null=True, default=0, db_default=0)

    # Workshop configuration
    use_case_description = models.TextField(null=True, blank=True)
    call_direction = models.TextField(null=True, blank=True)
    selected_phone_number = models.TextField(null=True, blank=True)
    tts_provider = models.TextField(null=True, blank=True)
    selected_voice = models.TextField(null=True, blank=True)

    # AI configuration. openai_api_key holds Fernet ciphertext only (workshop.crypto).
    openai_api_key = models.TextField(null=True, blank=True)
    system_prompt = models.TextField(null=True, blank=True)
    ivr_greeting = models.TextField(null=True, blank=True)
    tools = models.JSONField(null=True, default=list, db_default=[])
    voice_settings = models.JSONField(null=True, default=dict, db_default={})

    # Deployment URLs
    websocket_url = models.TextField(null=True, blank=True)
    codespace_url = models.TextField(null=True, blank=True)
    github_repo_url = models.TextField(null=True, blank=True)
    railway_url = models.TextField(null=True, blank=True)

    # Bug tracking
    bug_reports = models.JSONField(null=True, default=list, db_default=[])

    created_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)
    updated_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)

    objects = WorkshopSessionQuerySet.as_manager()

    class Meta:
        db_table = "sessions"
        ordering = ["-last_activity"]
        verbose_name = "workshop session"
        # Held by the voice runtime's service account: get-student-ai-settings returns the
        # decrypted OpenAI key to it and to nobody else (docs/frontend.md).
        permissions = [("read_ai_settings", "Can read sessions' AI settings with the OpenAI key")]
        indexes = [
            models.Index(fields=["student"], name="idx_sessions_student_id"),
            models.Index(fields=["last_activity"], name="idx_sessions_last_activity"),
            models.Index(fields=["is_active", "expires_at"], name="idx_sessions_active"),
            # Beyond the spec: a workshop run's sessions are those started in its window
            # (workshop/runs.py), read as a range of this index.
            models.Index(fields=["started_at"], name="idx_sessions_started_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(completion_rate__gte=0) & Q(completion_rate__lte=100),
                name="sessions_completion_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(current_step__gte=0) & Q(current_step__lte=TOTAL_STEPS),
                name="sessions_current_step_range",
            ),
            models.CheckConstraint(
                condition=Q(total_time_spent__gte=0), name="sessions_total_time_spent_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.session_token

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def accepts_progress(self) -> bool:
        """Whether writes are allowed: the session is active and not expired."""
        return bool(self.is_active) and not self.is_expired

    @property
    def has_openai_api_key(self) -> bool:
        return bool(self.openai_api_key)


# ---------------------------------------------------------------------------------------
# Workshop runs (not in the spec: new tables; the spec's four tables are unchanged)
# ---------------------------------------------------------------------------------------
class WorkshopRun(models.Model):
    """One live workshop: a time window, a place, its instructors and an optional roster.

    A session belongs to the run whose window contains its `started_at`, unless an
    instructor moved it to another run (SessionRunMove). workshop/runs.py holds that rule.
    """

    name = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(
        max_length=500, blank=True, default="", help_text="A room, or a link to the call."
    )
    instructors = models.ManyToManyField(
        "auth.User", blank=True, related_name="workshop_runs", db_table="workshop_run_instructors"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "workshop_runs"
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="idx_runs_window")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="workshop_runs_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({timezone.localtime(self.starts_at):%Y-%m-%d %H:%M})"

    def is_in_progress(self, now=None) -> bool:
        now = now or timezone.now()
        return self.starts_at <= now < self.ends_at


class RunRosterEntry(models.Model):
    """An expected participant of a run (imported from CSV): gives "registered, not started"."""

    run = models.ForeignKey(WorkshopRun, on_delete=models.CASCADE, related_name="roster")
    email = models.CharField(max_length=320)  # stored normalized (normalize_email)
    name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "workshop_run_roster"
        ordering = ["email"]
        verbose_name_plural = "roster entries"
        constraints = [
            models.UniqueConstraint(fields=["run", "email"], name="workshop_run_roster_unique"),
        ]

    def __str__(self) -> str:
        return self.email


class SessionRunMove(models.Model):
    """An instructor's explicit choice of run for one session, overriding its time window."""

    session = models.OneToOneField(
        WorkshopSession,
        primary_key=True,
        on_delete=models.CASCADE,
        db_column="session_token",
        related_name="run_move",
    )
    run = models.ForeignKey(WorkshopRun, on_delete=models.CASCADE, related_name="moved_sessions")
    moved_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moved_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "workshop_run_sessions"

    def __str__(self) -> str:
        return f"{self.session_id} -> {self.run_id}"
