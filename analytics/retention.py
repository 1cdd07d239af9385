"""Events retention: moving events older than a cutoff out of the `events` table, so it cannot
grow without bound (`manage.py archive_events`, and the beat task when EVENTS_RETENTION_DAYS
is set; docs/operations.md).

Events are archived to a gzipped JSON Lines file, one event per line with every column as
stored, rather than to a CSV or a second table: `event_data` is JSON, which a CSV cell would
flatten (and the CSV writer's formula defusing would alter), and a table in the same database
would keep the bytes the retention is there to remove. A file is read back with
`zcat FILE | jq` or loaded with COPY.

Batched: each batch is its own short transaction that locks at most `batch_size` events
(`FOR UPDATE SKIP LOCKED` on PostgreSQL: rows someone else holds are left for the next run),
appends them to the archive, deletes them by primary key and commits. An interrupted run
leaves every finished batch done; a re-run continues, and a batch whose commit failed after
its lines were written appears twice in the archive (same `id`).

Kept whatever their age: events of sessions in a workshop run that has not ended yet (the
run report and the cockpit read them), and events without a `created_at`.
"""

import datetime as dt
import gzip
import json
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from analytics.models import Event
from workshop.models import WorkshopRun
from workshop.runs import run_session_q

# 1,000 events per batch: as fast as larger batches at 1,000,000 events, with locks held a
# fifth as long (docs/benchmarks.md, "Events retention (issue 14)").
BATCH_SIZE = 1000
# Argument bounds, checked before anything is written (as cleanup_sessions does).
MAX_DAYS = 36_500
MAX_BATCH_SIZE = 100_000
# One archived line: the spec's columns, under their column names.
ARCHIVE_FIELDS = ("id", "student_id", "event_type", "event_data", "created_at")
ARCHIVE_RENAMED = {"session_token": F("session")}


def check_archive_arguments(
    *, older_than_days: int, batch_size: int, archive_to: Path | None, dry_run: bool
) -> None:
    """Raise ValueError naming the option that is wrong, before anything is written."""
    if not 1 <= older_than_days <= MAX_DAYS:
        raise ValueError(f"--older-than must be from 1 to {MAX_DAYS} days")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"--batch-size must be from 1 to {MAX_BATCH_SIZE}")
    if archive_to is None or dry_run:
        return
    if not archive_to.name.endswith(".jsonl.gz"):
        raise ValueError("--to must name a .jsonl.gz file")
    if not archive_to.parent.is_dir():
        raise ValueError(f"--to: no directory {archive_to.parent}")
    if archive_to.exists() and not archive_to.is_file():
        raise ValueError(f"--to: {archive_to} is not a file")


@dataclass
class ArchiveReport:
    dry_run: bool
    cutoff: dt.datetime
    archived: int = 0  # events moved out (or that would be, on a dry run)
    kept_for_open_runs: int = 0  # older than the cutoff, kept: their run has not ended
    batches: int = 0
    longest_batch_seconds: float = 0.0  # the longest any batch held its row locks


def events_to_archive(cutoff: dt.datetime, now: dt.datetime) -> tuple[QuerySet, Q]:
    """Events older than `cutoff`, minus those of sessions in runs not ended at `now`;
    and the Q that keeps the latter."""
    open_runs = WorkshopRun.objects.filter(ends_at__gt=now)
    keep = Q(pk__in=[])
    for run in open_runs:
        keep |= run_session_q(run, "session__")
    old = Event.objects.filter(created_at__lt=cutoff)
    return old.exclude(keep), keep


def _exact(value):
    # Full precision: Django's JSON encoder would cut timestamps to milliseconds.
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot archive a {type(value).__name__}")


def _line(row: dict) -> str:
    return json.dumps(row, default=_exact, ensure_ascii=False, separators=(",", ":"))


def archive_events(
    *,
    older_than_days: int,
    archive_to: Path | None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str], None] = lambda message: None,
) -> ArchiveReport:
    """Move events older than `older_than_days` days out of the events table, appending them
    to `archive_to` (a .jsonl.gz file) first unless it is None. Bad arguments raise
    ValueError before any write."""
    check_archive_arguments(
        older_than_days=older_than_days,
        batch_size=batch_size,
        archive_to=archive_to,
        dry_run=dry_run,
    )
    now = timezone.now()
    report = ArchiveReport(dry_run=dry_run, cutoff=now - dt.timedelta(days=older_than_days))
    candidates, keep = events_to_archive(report.cutoff, now)
    report.kept_for_open_runs = Event.objects.filter(keep, created_at__lt=report.cutoff).count()
    if dry_run:
        report.archived = candidates.count()
        return report

    with ExitStack() as files:
        archive = None  # opened at the first batch: a run that moves nothing writes nothing
        # Keyset over idx_events_created_at (created_at, id): each batch starts where the
        # last one ended, so no batch walks the index entries of rows already deleted.
        last: tuple[dt.datetime, int] | None = None
        while True:
            rows = candidates.order_by("created_at", "pk")
            if last is not None:
                rows = rows.filter(
                    Q(created_at__gt=last[0]) | Q(created_at=last[0], pk__gt=last[1]),
                    created_at__gte=last[0],
                )
            started = time.monotonic()
            with transaction.atomic():
                batch = list(
                    rows.select_for_update(skip_locked=True).values(
                        *ARCHIVE_FIELDS, **ARCHIVE_RENAMED
                    )[:batch_size]
                )
                if not batch:
                    break
                if archive_to is not None:
                    if archive is None:
                        # zlib's usual level 6: gzip's 9 made each locked batch longer for
                        # a file a few per cent smaller.
                        archive = files.enter_context(
                            gzip.open(archive_to, "at", compresslevel=6, encoding="utf-8")
                        )
                    archive.write("".join(_line(row) + "\n" for row in batch))
                    archive.flush()
                # Nothing refers to events and no signal listens: one DELETE by primary key.
                Event.objects.filter(pk__in=[row["id"] for row in batch]).delete()
            report.longest_batch_seconds = max(
                report.longest_batch_seconds, time.monotonic() - started
            )
            report.batches += 1
            report.archived += len(batch)
            last = (batch[-1]["created_at"], batch[-1]["id"])
            progress(f"archived {report.archived} events ({report.batches} batches)")
    return report
