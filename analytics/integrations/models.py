"""The outbox and what is delivered from it: webhook endpoints, deliveries and their
attempts, instructor e-mail, notification preferences, and the stuck-alert memory.

None of these tables is part of the spec's schema; none adds a column to its four tables.
Students and sessions are referred to by id without a foreign key, so the spec's tables can be
deleted from (cleanup, erasure, raw SQL) without these rows standing in the way.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workshop.crypto import decrypt_secret


class Topic(models.TextChoices):
    """What happened, as receivers see it (docs/webhooks.md)."""

    STEP_COMPLETED = "step_completed"
    SESSION_COMPLETED = "session_completed"
    BUG_REPORTED = "bug_reported"
    FEEDBACK_SUBMITTED = "feedback_submitted"
    STUDENT_STUCK = "student_stuck"
    RUN_ENDED = "run_ended"


# Topics a webhook endpoint can subscribe to.
WEBHOOK_TOPICS = (
    Topic.STEP_COMPLETED,
    Topic.SESSION_COMPLETED,
    Topic.BUG_REPORTED,
    Topic.FEEDBACK_SUBMITTED,
    Topic.STUDENT_STUCK,
)


class OutboxMessage(models.Model):
    """Something to tell the outside world, written in the transaction of the change that
    caused it and dispatched after commit (or by the sweep when the broker was down)."""

    # Receivers deduplicate on this id: a re-sent delivery carries the same one.
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    topic = models.CharField(max_length=40, choices=Topic.choices)
    student_id = models.UUIDField(null=True, blank=True)
    session_token = models.CharField(max_length=128, null=True, blank=True)
    # What the writer knew: step number, bug report id, ... (never a secret).
    data = models.JSONField(default=dict, blank=True)
    # Makes a message that must exist once (a run's summary) insert-once.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # The webhook body, built once at dispatch: every delivery and re-send sends these bytes.
    body = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep reads only what was never dispatched.
            models.Index(
                fields=["created_at"],
                condition=Q(dispatched_at__isnull=True),
                name="outbox_undispatched",
            ),
            models.Index(fields=["student_id"], name="outbox_student"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.event_id}"


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000, help_text="http(s) only; private addresses refused")
    topics = models.JSONField(default=list, help_text="event types sent to this endpoint")
    # Fernet ciphertext (workshop/crypto.py); the plaintext is only ever in the signing code.
    secret_ciphertext = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def signing_secret(self) -> str:
        return decrypt_secret(self.secret_ciphertext)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One message to one endpoint; its attempts are WebhookAttempt rows."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # While SENDING: when a worker that died mid-attempt is presumed gone.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="one_delivery_per_endpoint"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.message.topic} -> {self.endpoint}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    succeeded = models.BooleanField()
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number}"


class NotificationKind(models.TextChoices):
    BUG_REPORT = "bug_report", "New bug reports"
    STUCK_STUDENT = "stuck_student", "Students stuck with a failure"
    RUN_SUMMARY = "run_summary", "Summary after a run ends"
    SESSION_COMPLETED = "session_completed", "A student finished every step"


class NotificationPreference(models.Model):
    """An instructor's switches; no row means every kind is on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    bug_report = models.BooleanField("new bug reports", default=True)
    stuck_student = models.BooleanField("students stuck with a failure", default=True)
    run_summary = models.BooleanField("summary after a run ends", default=True)
    session_completed = models.BooleanField("a student finished every step", default=True)

    def __str__(self) -> str:
        return f"notifications of {self.user}"

    def wants(self, kind: str) -> bool:
        return bool(getattr(self, kind))


class EmailStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class EmailNotification(models.Model):
    """One e-mail to one instructor about one message: sent once."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    recipient = models.EmailField()
    status = models.CharField(
        max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "recipient"], name="one_email_per_recipient")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="email_due")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}"


class StuckAlert(models.Model):
    """When a student was last reported stuck on a step: at most one alert an hour."""

    student_id = models.UUIDField()
    step_number = models.PositiveSmallIntegerField()
    alerted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["student_id", "step_number"], name="one_alert_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.student_id} step {self.step_number}"
