"""Writes of the integrations: the outbox, its dispatch, webhook deliveries and e-mail.

The flow (docs/webhooks.md, "How delivery works"):
1. `record_outbox` inserts the messages in the caller's transaction (one INSERT) and, after
   the commit, `queue_outbox_ids` publishes their ids to the broker in one message.
2. `dispatch_message` claims a message once, builds its webhook body and creates one delivery
   per subscribed endpoint and one e-mail per instructor who wants it; it queues one batch
   per endpoint and one task per e-mail.
3. `deliver_endpoint` claims a batch of an endpoint's due deliveries (a status transition
   that only one worker wins per row), POSTs them over one kept-alive connection, records
   the attempts in bulk and says when to retry; `send_email` does the same for one e-mail.
4. `sweep` (beat) queues whatever the broker never got: outbox rows never dispatched,
   deliveries and e-mail due but not queued, work of a worker that died mid-attempt.
"""

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from analytics.integrations import notifications, webhooks
from analytics.integrations.models import (
    DeliveryStatus,
    EmailNotification,
    EmailStatus,
    NotificationKind,
    OutboxMessage,
    Topic,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from analytics.integrations.payloads import build_body

logger = logging.getLogger(__name__)

# Seconds after which queued work that has not happened is presumed lost by the broker.
SWEEP_GRACE = dt.timedelta(seconds=30)
SWEEP_BATCH = 500
EMAIL_MAX_ATTEMPTS = 5
# Which instructors' switch decides whether a topic is mailed.
TOPIC_NOTIFICATIONS = {
    Topic.BUG_REPORTED: NotificationKind.BUG_REPORT,
    Topic.STUDENT_STUCK: NotificationKind.STUCK_STUDENT,
    Topic.RUN_ENDED: NotificationKind.RUN_SUMMARY,
    Topic.SESSION_COMPLETED: NotificationKind.SESSION_COMPLETED,
}


@dataclass(frozen=True)
class OutboxEntry:
    topic: str
    student_id: uuid.UUID | None = None
    session_token: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None


# Events that the outside world hears about (the event type's value -> topic).
EVENT_TOPICS = {
    "step_completed": Topic.STEP_COMPLETED,
    "bug_reported": Topic.BUG_REPORTED,
    "feedback_submitted": Topic.FEEDBACK_SUBMITTED,
}
# The key under which event writers put the step (analytics.models.EVENT_STEP_KEY).
_EVENT_STEP_KEY = "stepNumber"


def outbox_entries_for_events(events: Iterable[Any]) -> list[OutboxEntry]:
    """Outbox entries for the events that have a topic; `events` are NewEvent-like (event_type,
    student_id, session_token, data). Only ids and numbers are copied: student text stays in
    its own row and is read at dispatch."""
    entries = []
    for event in events:
        topic = EVENT_TOPICS.get(str(event.event_type))
        if topic is None:
            continue
        source = dict(event.data or {})
        data: dict[str, Any] = {}
        if source.get(_EVENT_STEP_KEY) is not None:
            data["step"] = source[_EVENT_STEP_KEY]
        if topic == Topic.BUG_REPORTED and source.get("bugReportId"):
            data["bug_report_id"] = source["bugReportId"]
        elif topic == Topic.BUG_REPORTED:
            # A report no session could take (the frontend's report-bug without a token)
            # lives only in its event: the message carries it.
            data["bug_report_inline"] = dict(source.get("report") or {})
        elif topic == Topic.FEEDBACK_SUBMITTED:
            data["feedback"] = {k: v for k, v in source.items() if k != _EVENT_STEP_KEY}
        entries.append(
            OutboxEntry(
                topic=topic,
                student_id=event.student_id,
                session_token=event.session_token,
                data=data,
            )
        )
    return entries


def backoff_seconds(attempt: int) -> int:
    """Seconds before retry number `attempt` (1-based): 30 s doubling, at most 30 minutes."""
    return min(30 * 2 ** (attempt - 1), 1800)


# ---------------------------------------------------------------------------------------
# Queueing (the broker gets row ids only, never a secret)
# ---------------------------------------------------------------------------------------
# After a publish failed, publishing is skipped until this monotonic time: a request with
# news then costs nothing more than its INSERT while the broker is down (the sweep sends
# the rows later), instead of waiting for the publish retries each time.
_broker_down_until = 0.0


def broker_paused() -> bool:
    return time.monotonic() < _broker_down_until


def _publish(task_name: str, args: tuple, countdown: int | None = None) -> bool:
    """Hand one task to the broker. A broker that is down is logged, not raised: the rows
    are in the database and the sweep queues them later; the caller has succeeded."""
    global _broker_down_until
    from analytics.integrations import tasks

    if broker_paused():
        return False
    try:
        getattr(tasks, task_name).apply_async(args, countdown=countdown)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        if settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_TASK_EAGER_PROPAGATES:
            raise
        _broker_down_until = time.monotonic() + settings.OUTBOX_PUBLISH_PAUSE_SECONDS
        logger.warning(
            "could not queue %s%s, the sweep will; not publishing for %s s: %s",
            task_name,
            args,
            settings.OUTBOX_PUBLISH_PAUSE_SECONDS,
            exc,
        )
        return False
    return True


def _queue(task_name: str, row_id: int, countdown: int | None = None) -> bool:
    """One row's task (the sweep's `queue`, e-mails after their commit)."""
    return _publish(task_name, (row_id,), countdown)


def end_publish_pause() -> None:
    """Try the broker again at the next publish (the sweep does, each time it runs)."""
    global _broker_down_until
    _broker_down_until = 0.0


def queue_outbox_ids(ids: Iterable[int]) -> bool:
    """Queue the dispatch of committed outbox rows: one broker message for all of them.
    Call it after the commit (record_outbox does, through on_commit; a writer that inserts
    outbox rows itself, e.g. in a database function, calls it with the returned ids)."""
    ids = [int(pk) for pk in ids]
    return bool(ids) and _publish("dispatch_messages", (ids,))


def queue_endpoint_batches(endpoint_ids: Iterable[int], countdown: int | None = None) -> int:
    """One batch task per endpoint: it delivers whatever of the endpoint's is due."""
    return sum(_publish("deliver_webhooks", (pk,), countdown) for pk in sorted(set(endpoint_ids)))


def _queue_all(task_name: str, row_ids: list[int]) -> None:
    for row_id in row_ids:
        _queue(task_name, row_id)


def record_outbox(entries: Iterable[OutboxEntry]) -> list[OutboxMessage]:
    """Insert messages in the current transaction (one INSERT) and dispatch them after it
    commits. Entries with a dedupe_key already used are skipped (a run's summary)."""
    rows = [
        OutboxMessage(
            topic=entry.topic,
            student_id=entry.student_id,
            session_token=entry.session_token,
            data=dict(entry.data),
            dedupe_key=entry.dedupe_key,
        )
        for entry in entries
    ]
    if not rows:
        return []
    deduped = any(row.dedupe_key for row in rows)
    created = OutboxMessage.objects.bulk_create(rows, ignore_conflicts=deduped)
    if deduped:
        # ignore_conflicts gives no ids back: read the rows this call inserted.
        keys = [row.event_id for row in rows]
        created = list(OutboxMessage.objects.filter(event_id__in=keys))
    queue_dispatch_after_commit([row.pk for row in created])
    return created


def queue_dispatch_after_commit(message_ids: list[int]) -> None:
    """Dispatch these outbox rows once the current transaction commits (at once in
    autocommit): record_outbox's rows, and those a database function inserted itself
    (progress.db_functions)."""
    if message_ids:
        transaction.on_commit(partial(queue_outbox_ids, list(message_ids)))


# ---------------------------------------------------------------------------------------
# Dispatch: one message -> deliveries and e-mails
# ---------------------------------------------------------------------------------------
def subscribed_endpoints(topic: str) -> list[WebhookEndpoint]:
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True)
        if topic in (endpoint.topics or [])
    ]


def dispatch_message(*, message_id: int) -> bool:
    """Fan one message out, once: False when another call dispatched it already."""
    with transaction.atomic():
        now = timezone.now()
        if not OutboxMessage.objects.filter(pk=message_id, dispatched_at__isnull=True).update(
            dispatched_at=now
        ):
            return False
        message = OutboxMessage.objects.get(pk=message_id)
        endpoints = subscribed_endpoints(message.topic)
        if endpoints:
            message.body = build_body(message)
            message.save(update_fields=["body"])
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(message=message, endpoint=endpoint, next_attempt_at=now)
            for endpoint in endpoints
        )
        kind = TOPIC_NOTIFICATIONS.get(message.topic)
        emails = []
        if kind is not None:
            recipients = notifications.recipients(kind=kind, message=message)
            emails = EmailNotification.objects.bulk_create(
                EmailNotification(message=message, kind=kind, recipient=address)
                for address in recipients
            )
        endpoint_ids = [endpoint.pk for endpoint in endpoints]
        email_ids = [row.pk for row in emails]
        transaction.on_commit(partial(queue_endpoint_batches, endpoint_ids))
        transaction.on_commit(partial(_queue_all, "send_email", email_ids))
    return True


# ---------------------------------------------------------------------------------------
# Webhook deliveries
# ---------------------------------------------------------------------------------------
def _commit_without_flush_wait() -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL flush (a commit's fsync
    cost 5 ms here, three times per delivery). A database crash can then forget the last
    fraction of a second of the delivery log, and those deliveries go again: at least once,
    which receivers handle by the event id (docs/webhooks.md). Never used for the outbox
    row itself, which commits with the student's write."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _claim(model, *, pk: int, statuses: list[str], lease: dt.timedelta, related: list[str]):
    """Move a row to SENDING if it is due and return it: one worker wins, the others get None."""
    now = timezone.now()
    with transaction.atomic():
        _commit_without_flush_wait()
        claimed = model.objects.filter(pk=pk, status__in=statuses, next_attempt_at__lte=now).update(
            status="sending", attempts=F("attempts") + 1, locked_until=now + lease
        )
        return model.objects.select_related(*related).get(pk=pk) if claimed else None


# Deliveries claimed together: their attempts are sent one after the other on one
# connection, then recorded in one transaction.
WEBHOOK_BATCH = 50
# A batch task stops claiming after this long and queues a successor, so one busy endpoint
# does not hold a worker process for ever (nor a warm shutdown long).
WEBHOOK_TASK_SECONDS = 10


@dataclass
class BatchRun:
    delivered: int = 0
    attempted: int = 0
    # Countdowns (seconds) after which failed deliveries of the endpoint are due again.
    retry_delays: set[int] = field(default_factory=set)
    # Stopped at the time limit with deliveries possibly still due.
    more: bool = False


@dataclass(frozen=True)
class _Claimed:
    pk: int
    attempts: int
    event_id: uuid.UUID
    topic: str
    body: str


def _claim_batch(
    *, endpoint_id: int, delivery_ids: list[int] | None, limit: int, lease: dt.timedelta
) -> list[_Claimed]:
    """Move up to `limit` due deliveries of one endpoint to SENDING and return them. Rows are
    locked with SKIP LOCKED, so concurrent batches of one endpoint take disjoint rows."""
    now = timezone.now()
    with transaction.atomic():
        _commit_without_flush_wait()
        due = WebhookDelivery.objects.select_for_update(skip_locked=True).filter(
            endpoint_id=endpoint_id,
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
            next_attempt_at__lte=now,
        )
        if delivery_ids is not None:
            due = due.filter(pk__in=delivery_ids)
        pks = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
        if not pks:
            return []
        locked_until = now + lease
        WebhookDelivery.objects.filter(pk__in=pks).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, locked_until=locked_until
        )
        # locked_until names this claim, so even a database without row locks (SQLite)
        # returns only the rows this call moved.
        rows = WebhookDelivery.objects.filter(
            pk__in=pks, status=DeliveryStatus.SENDING, locked_until=locked_until
        ).values_list("pk", "attempts", "message__event_id", "message__topic", "message__body")
        return [_Claimed(*row) for row in rows.order_by("pk")]


def _record_batch(results: list[tuple[_Claimed, dt.datetime, Any]], *, active: bool) -> set[int]:
    """Write a batch's outcomes: one INSERT for the attempt log, one UPDATE per outcome
    (status, HTTP status, backoff). Returns the backoff delays used."""
    now = timezone.now()
    groups: dict[tuple, list[int]] = {}
    for claimed, _started, result in results:
        if result.succeeded:
            key = (DeliveryStatus.SUCCEEDED, result.status_code, None)
        elif claimed.attempts >= settings.WEBHOOK_MAX_ATTEMPTS or not active:
            key = (DeliveryStatus.FAILED, result.status_code, None)
        else:
            key = (DeliveryStatus.RETRYING, result.status_code, backoff_seconds(claimed.attempts))
        groups.setdefault(key, []).append(claimed.pk)
    with transaction.atomic():
        _commit_without_flush_wait()
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery_id=claimed.pk,
                number=claimed.attempts,
                started_at=started,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                succeeded=result.succeeded,
                error=result.error,
                response_excerpt=result.response_excerpt,
            )
            for claimed, started, result in results
        )
        for (status, code, delay), pks in groups.items():
            changes: dict[str, Any] = {
                "status": status,
                "last_status_code": code,
                "locked_until": None,
            }
            if status == DeliveryStatus.SUCCEEDED:
                changes["delivered_at"] = now
            if delay is not None:
                changes["next_attempt_at"] = now + dt.timedelta(seconds=delay)
            WebhookDelivery.objects.filter(pk__in=pks).update(**changes)
    return {delay for (_status, _code, delay) in groups if delay is not None}


def deliver_endpoint(
    *,
    endpoint_id: int,
    delivery_ids: list[int] | None = None,
    batch: int | None = None,
    seconds: float | None = None,
) -> BatchRun:
    """Deliver an endpoint's due deliveries (or only `delivery_ids` of them), a batch at a
    time, until none is due or `seconds` have passed. Each delivery's attempt is its own:
    signed with a fresh timestamp, logged, retried on its own backoff."""
    batch = batch or WEBHOOK_BATCH
    seconds = WEBHOOK_TASK_SECONDS if seconds is None else seconds
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    # Long enough for a whole batch of timeouts; the sweep gives back a dead worker's rows.
    lease = dt.timedelta(seconds=batch * timeout + 60)
    run = BatchRun()
    stop_at = time.monotonic() + seconds
    endpoint = sender = secret = None
    while True:
        claimed = _claim_batch(
            endpoint_id=endpoint_id, delivery_ids=delivery_ids, limit=batch, lease=lease
        )
        if not claimed:
            break
        if endpoint is None:
            endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
            if endpoint.is_active:
                # Once per batch run: the URL check (SSRF) and the secret's decryption.
                sender = webhooks.Sender(endpoint.url, timeout=timeout)
                secret = endpoint.signing_secret()
        results = []
        for row in claimed:
            started = timezone.now()
            if sender is None:
                result = webhooks.PostResult(None, 0, "endpoint disabled", "")
            else:
                body = row.body.encode()
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": webhooks.USER_AGENT,
                    webhooks.SIGNATURE_HEADER: webhooks.sign(
                        secret=secret, timestamp=int(time.time()), body=body
                    ),
                    "Workshop-Event-Id": str(row.event_id),
                    "Workshop-Event-Type": row.topic,
                    "Workshop-Delivery-Id": str(row.pk),
                }
                result = sender.post(body, headers)
            results.append((row, started, result))
        run.retry_delays |= _record_batch(results, active=sender is not None)
        run.attempted += len(results)
        run.delivered += sum(result.succeeded for _row, _started, result in results)
        if delivery_ids is not None or len(claimed) < batch:
            break
        if time.monotonic() >= stop_at:
            run.more = True
            break
    return run


def deliver_webhook(*, delivery_id: int) -> int | None:
    """One attempt of one delivery (tasks queued by an older release, and tests). Returns the
    seconds until the next attempt when it failed and may be retried, else None."""
    endpoint_id = (
        WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    )
    if endpoint_id is None:
        return None
    run = deliver_endpoint(endpoint_id=endpoint_id, delivery_ids=[delivery_id])
    return min(run.retry_delays) if run.retry_delays else None


def resend_deliveries(deliveries: Iterable[WebhookDelivery]) -> int:
    """The admin's re-send: each delivery goes again now, with a fresh attempt budget; the
    body is the same (receivers see the same event id)."""
    ids = [delivery.pk for delivery in deliveries]
    with transaction.atomic():
        count = (
            WebhookDelivery.objects.filter(pk__in=ids)
            .exclude(status=DeliveryStatus.SENDING)
            .update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now())
        )
        endpoints = WebhookDelivery.objects.filter(pk__in=ids).values_list("endpoint_id", flat=True)
        transaction.on_commit(partial(queue_endpoint_batches, set(endpoints)))
    return count


# ---------------------------------------------------------------------------------------
# E-mail
# ---------------------------------------------------------------------------------------
def send_email(*, email_id: int) -> int | None:
    """Send one notification e-mail, once. Returns seconds until a retry, or None."""
    lease = dt.timedelta(seconds=settings.EMAIL_TIMEOUT + 60)
    email = _claim(
        EmailNotification,
        pk=email_id,
        statuses=[EmailStatus.PENDING],
        lease=lease,
        related=["message"],
    )
    if email is None:
        return None
    try:
        rendered = notifications.render(kind=email.kind, message=email.message)
        mail = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            to=[email.recipient],
            connection=get_connection(),
        )
        mail.attach_alternative(rendered.html, "text/html")
        mail.send()
    except Exception as exc:  # SMTP and template errors alike: logged on the row, retried
        failed = email.attempts >= EMAIL_MAX_ATTEMPTS
        delay = None if failed else backoff_seconds(email.attempts)
        EmailNotification.objects.filter(pk=email.pk).update(
            status=EmailStatus.FAILED if failed else EmailStatus.PENDING,
            last_error=f"{type(exc).__name__}: {exc}"[:500],
            locked_until=None,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay or 0),
        )
        logger.warning("notification e-mail %s failed (attempt %s)", email.pk, email.attempts)
        return delay
    EmailNotification.objects.filter(pk=email.pk).update(
        status=EmailStatus.SENT, sent_at=timezone.now(), locked_until=None, last_error=""
    )
    return None


# ---------------------------------------------------------------------------------------
# The sweep (beat): what the broker never got
# ---------------------------------------------------------------------------------------
@dataclass
class SweepReport:
    dispatched: int = 0
    deliveries: int = 0
    emails: int = 0
    recovered: int = 0


def _due_ids(model, statuses: list[str], before: dt.datetime, *fields: str) -> list:
    with transaction.atomic():
        return list(
            model.objects.select_for_update(skip_locked=True)
            .filter(status__in=statuses, next_attempt_at__lte=before)
            .order_by("next_attempt_at")
            .values_list(*(fields or ("pk",)), flat=not fields)[:SWEEP_BATCH]
        )


def sweep(
    *, now: dt.datetime | None = None, queue: Callable[[str, int], Any] = _queue
) -> SweepReport:
    """Dispatch messages never dispatched, re-queue due work nobody picked up, and give back
    the rows of a worker that died mid-attempt (its lease has run out)."""
    now = now or timezone.now()
    before = now - SWEEP_GRACE
    report = SweepReport()
    # The sweep is what retries a broker that was down: a failure pauses publishing again.
    end_publish_pause()
    for model, pending in (
        (WebhookDelivery, DeliveryStatus.RETRYING),
        (EmailNotification, EmailStatus.PENDING),
    ):
        report.recovered += model.objects.filter(status="sending", locked_until__lt=now).update(
            status=pending, locked_until=None, next_attempt_at=now - SWEEP_GRACE
        )
    undispatched = list(
        OutboxMessage.objects.filter(dispatched_at__isnull=True, created_at__lte=before)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for message_id in undispatched:
        report.dispatched += dispatch_message(message_id=message_id)
    due = _due_ids(
        WebhookDelivery, [DeliveryStatus.PENDING, DeliveryStatus.RETRYING], before, "endpoint_id"
    )
    # One batch per endpoint: it takes every due delivery of the endpoint, these included.
    for endpoint_id in sorted({endpoint_id for (endpoint_id,) in due}):
        if queue("deliver_webhooks", endpoint_id):
            report.deliveries += sum(1 for (other,) in due if other == endpoint_id)
    for email_id in _due_ids(EmailNotification, [EmailStatus.PENDING], before):
        report.emails += bool(queue("send_email", email_id))
    return report


def forget_student(*, student_id: uuid.UUID) -> dict[str, int]:
    """A data-subject erasure or anonymisation: the student's messages (with their webhook
    bodies, deliveries, attempts and e-mail records) and stuck-alert memory go. Returns the
    deleted rows per model label, zero counts left out."""
    from analytics.integrations.models import StuckAlert

    _, rows = OutboxMessage.objects.filter(student_id=student_id).delete()
    _, alerts = StuckAlert.objects.filter(student_id=student_id).delete()
    return {label: count for label, count in {**rows, **alerts}.items() if count}


def purge_delivered(*, now: dt.datetime | None = None) -> int:
    """Delete dispatched messages older than the retention period, with their deliveries,
    attempts and e-mails (they hold students' names and text)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.DELIVERY_LOG_RETENTION_DAYS)
    old = OutboxMessage.objects.filter(dispatched_at__lt=cutoff).exclude(
        Q(deliveries__status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING])
    )
    deleted, _ = OutboxMessage.objects.filter(pk__in=old.values("pk")).delete()
    return deleted
