"""Admin of the integrations: webhook endpoints (secret write-only), deliveries with their
attempt log and a re-send action, the outbox, e-mail sent, notification switches."""

from django.contrib import admin, messages
from django.db.models import Count, Q

from analytics.integrations import services
from analytics.integrations.forms import WebhookEndpointForm
from analytics.integrations.models import (
    DeliveryStatus,
    EmailNotification,
    NotificationPreference,
    OutboxMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from workshop.admin import ReadOnlyAdminMixin, formatted_column
from workshop.crypto import mask_secret
from workshop.formatting import format_datetime, format_number


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "topic_list", "is_active", "secret_state", "failing"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    readonly_fields = ["secret_state", "created_at", "updated_at"]
    fields = [
        "name",
        "url",
        "topics",
        "secret",
        "secret_state",
        "is_active",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                failing_count=Count(
                    "deliveries",
                    filter=Q(
                        deliveries__status__in=[DeliveryStatus.RETRYING, DeliveryStatus.FAILED]
                    ),
                )
            )
        )

    @admin.display(description="event types")
    def topic_list(self, obj) -> str:
        return ", ".join(obj.topics or [])

    @admin.display(description="secret")
    def secret_state(self, obj) -> str:
        return mask_secret(obj.secret_ciphertext)

    @admin.display(description="retrying or failed", ordering="failing_count")
    def failing(self, obj) -> str:
        return format_number(getattr(obj, "failing_count", 0))


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = [
        "number",
        "started_at",
        "status_code",
        "latency_ms",
        "succeeded",
        "error",
        "response_excerpt",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Re-send the selected deliveries now", permissions=["change"])
def resend(modeladmin, request, queryset) -> None:
    count = services.resend_deliveries(queryset)
    modeladmin.message_user(
        request, f"Queued {count} deliveries to be sent again.", messages.SUCCESS
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "topic",
        "endpoint",
        "status",
        formatted_column("attempts", format_number),
        "last_status_code",
        formatted_column("created_at", format_datetime, "created"),
        formatted_column("delivered_at", format_datetime, "delivered"),
        formatted_column("next_attempt_at", format_datetime, "next attempt"),
    ]
    list_filter = ["status", "endpoint", "message__topic"]
    list_select_related = ["message", "endpoint"]
    search_fields = ["message__event_id"]
    readonly_fields = [
        "message",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_until",
        "last_status_code",
        "created_at",
        "delivered_at",
        "body",
    ]
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = [resend]
    ordering = ["-created_at", "-id"]

    @admin.display(description="event type", ordering="message__topic")
    def topic(self, obj) -> str:
        return obj.message.topic

    @admin.display(description="body sent")
    def body(self, obj) -> str:
        return obj.message.body

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "event_id",
        "topic",
        "student_id",
        formatted_column("created_at", format_datetime, "created"),
        formatted_column("dispatched_at", format_datetime, "dispatched"),
    ]
    list_filter = ["topic", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id", "student_id"]
    ordering = ["-created_at", "-id"]
    # The session token is the session's write credential: not shown here.
    fields = [
        "event_id",
        "topic",
        "student_id",
        "data",
        "dedupe_key",
        "created_at",
        "dispatched_at",
        "body",
    ]


@admin.register(EmailNotification)
class EmailNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "recipient",
        "status",
        formatted_column("attempts", format_number),
        formatted_column("created_at", format_datetime, "created"),
        formatted_column("sent_at", format_datetime, "sent"),
    ]
    list_filter = ["kind", "status"]
    search_fields = ["recipient"]
    ordering = ["-created_at", "-id"]
    fields = [
        "message",
        "kind",
        "recipient",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "last_error",
    ]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "bug_report", "stuck_student", "session_completed", "run_summary"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]
