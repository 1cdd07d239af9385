"""Per-step progress of a session: the spec's `step_progress` table."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from workshop.expressions import SqlNow
from workshop.models import Student, WorkshopSession
from workshop.steps import FIRST_STEP, LAST_STEP


class StepProgress(models.Model):
    # SERIAL in the spec: migration 0002 swaps Django's identity column for a sequence.
    id = models.AutoField(primary_key=True)
    session = models.ForeignKey(
        WorkshopSession,
        on_delete=models.CASCADE,
        db_column="session_token",
        db_index=False,  # the spec's indexes are declared in Meta
        related_name="steps",
    )
    student = models.ForeignKey(
        Student,
        on_delete=models.CASCADE,
        db_column="student_id",
        db_index=False,
        related_name="step_progress",
    )

    # Step identification
    step_number = models.IntegerField(
        validators=[MinValueValidator(FIRST_STEP), MaxValueValidator(LAST_STEP)]
    )
    step_name = models.TextField()

    # Progress tracking
    started_at = models.DateTimeField(null=True, db_default=SqlNow())
    completed_at = models.DateTimeField(null=True, blank=True)
    time_spent = models.IntegerField(null=True, default=0, db_default=0)
    attempts = models.IntegerField(null=True, default=0, db_default=0)
    validation_passed = models.BooleanField(null=True, default=False, db_default=False)

    # Code/work submitted
    code_submitted = models.TextField(null=True, blank=True)
    deployment_url = models.TextField(null=True, blank=True)

    created_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)
    updated_at = models.DateTimeField(null=True, db_default=SqlNow(), editable=False)

    class Meta:
        db_table = "step_progress"
        ordering = ["session_id", "step_number"]
        verbose_name = "step progress"
        verbose_name_plural = "step progress"
        constraints = [
            models.UniqueConstraint(
                fields=["session", "step_number"],
                name="step_progress_session_token_step_number_key",
            ),
            models.CheckConstraint(
                condition=Q(step_number__gte=FIRST_STEP) & Q(step_number__lte=LAST_STEP),
                name="step_progress_step_number_range",
            ),
            models.CheckConstraint(
                condition=Q(time_spent__gte=0), name="step_progress_time_spent_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(attempts__gte=0), name="step_progress_attempts_gte_0"
            ),
        ]
        indexes = [
            models.Index(fields=["session"], name="idx_step_progress_session"),
            models.Index(fields=["student"], name="idx_step_progress_student"),
            # The dashboards' funnel reads only these columns of every row: an index-only
            # scan reads a fifth of the pages of the table (docs/benchmarks.md).
            models.Index(
                fields=["step_number", "time_spent", "validation_passed"],
                name="idx_step_progress_funnel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} step {self.step_number}"
