"""The audit trail: the spec's `events` table."""

from django.db import models

from workshop.expressions import SqlNow
from workshop.models import Student, WorkshopSession


class EventType(models.TextChoices):
    SESSION_CREATED = "session_created"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    STEP_PROGRESS = "step_progress"
    DEPLOYMENT_SUCCESS = "deployment_success"
    DEPLOYMENT_FAILURE = "deployment_failure"
    BUG_REPORTED = "bug_reported"
    # The real frontend's own calls (docs/frontend.md).
    FEEDBACK_SUBMITTED = "feedback_submitted"
    SESSION_LOG = "session_log"
    # Every read of a session's decrypted AI settings by the voice runtime.
    AI_SETTINGS_READ = "ai_settings_read"
    # Written by the legacy migration for every session it creates.
    DATA_MIGRATED = "data_migrated"


# The key under which every writer puts the step an event is about, in event_data.
EVENT_STEP_KEY = "stepNumber"


class Event(models.Model):
    # SERIAL in the spec: migration 0002 swaps Django's identity column for a sequence.
    id = models.AutoField(primary_key=True)
    student = models.ForeignKey(
        Student,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_column="student_id",
        db_index=False,  # the spec's indexes are declared in Meta
        related_name="events",
    )
    session = models.ForeignKey(
        WorkshopSession,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_column="session_token",
        db_index=False,
        related_name="events",
    )
    event_type = models.TextField(choices=EventType.choices)
    event_data = models.JSONField(null=True, default=dict, db_default={})
    created_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)

    class Meta:
        db_table = "events"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["student"], name="idx_events_student"),
            models.Index(fields=["session"], name="idx_events_session"),
            # The dashboards' "latest events" read this backwards: newest first, no sort.
            models.Index(fields=["created_at", "id"], name="idx_events_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def step_number(self) -> int | None:
        """The step this event is about, when it is about one."""
        data = self.event_data if isinstance(self.event_data, dict) else {}
        return data.get(EVENT_STEP_KEY)


class HelpQueueState(models.Model):
    """What the instructors did about a session in the help queue (not in the spec: a new
    table). "I'm on it" names the instructor to everyone; "resolved" hides the session until
    a new signal arrives after `resolved_at` (analytics/dashboards/help_queue.py)."""

    session = models.OneToOneField(
        WorkshopSession,
        primary_key=True,
        on_delete=models.CASCADE,
        db_column="session_token",
        related_name="help_state",
    )
    claimed_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "help_queue_states"

    def __str__(self) -> str:
        return f"help state of {self.session_id}"
