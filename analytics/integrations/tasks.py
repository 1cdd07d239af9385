"""Celery tasks of the integrations: thin wrappers over services, taking row ids only.

Each is idempotent (the service claims its row first), so a redelivered message does nothing
twice. Failures of the outside world are retried by scheduling the next attempt with its
backoff; database errors retry the task itself with Celery's exponential backoff.
"""

from celery import shared_task
from django.db import DatabaseError

from analytics.integrations import run_summary, services, stuck

RETRY_DATABASE = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
}


def _again(task, row_id: int, delay: int | None) -> None:
    # Eagerly (no broker) a retry would run at once, inside the request: the sweep of a
    # real deployment does it instead, when it is due.
    if delay is not None and not task.request.is_eager:
        services._publish(task.name.rsplit(".", 1)[1], (row_id,), countdown=delay)


@shared_task(bind=True, name="integrations.dispatch_messages", **RETRY_DATABASE)
def dispatch_messages(self, message_ids: list[int]) -> None:
    """The outbox rows of one commit: one broker message, each row dispatched on its own."""
    for message_id in message_ids:
        services.dispatch_message(message_id=message_id)


@shared_task(bind=True, name="integrations.dispatch_message", **RETRY_DATABASE)
def dispatch_message(self, message_id: int) -> None:
    services.dispatch_message(message_id=message_id)


@shared_task(bind=True, name="integrations.deliver_webhooks", **RETRY_DATABASE)
def deliver_webhooks(self, endpoint_id: int) -> dict:
    """Deliver an endpoint's due deliveries in batches over one connection."""
    run = services.deliver_endpoint(endpoint_id=endpoint_id)
    if not self.request.is_eager:
        for delay in sorted(run.retry_delays):
            services.queue_endpoint_batches([endpoint_id], countdown=delay)
        if run.more:
            services.queue_endpoint_batches([endpoint_id])
    return {"delivered": run.delivered, "attempted": run.attempted}


@shared_task(bind=True, name="integrations.deliver_webhook", **RETRY_DATABASE)
def deliver_webhook(self, delivery_id: int) -> None:
    """One delivery (kept for tasks queued by an older release)."""
    _again(self, delivery_id, services.deliver_webhook(delivery_id=delivery_id))


@shared_task(bind=True, name="integrations.send_email", **RETRY_DATABASE)
def send_email(self, email_id: int) -> None:
    _again(self, email_id, services.send_email(email_id=email_id))


@shared_task(name="integrations.sweep_outbox", **RETRY_DATABASE)
def sweep_outbox() -> dict:
    return vars(services.sweep())


@shared_task(name="integrations.alert_stuck_students", **RETRY_DATABASE)
def alert_stuck_students() -> int:
    return stuck.alert_stuck_students()


@shared_task(name="integrations.purge_delivered", **RETRY_DATABASE)
def purge_delivered() -> int:
    return services.purge_delivered()


@shared_task(name="integrations.send_run_summaries", **RETRY_DATABASE)
def send_run_summaries() -> int:
    return run_summary.record_run_summaries()
