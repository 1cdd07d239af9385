"""Time and trouble per step for one workshop run, and how it compares with earlier runs.

- activity over the run: active students and events per 5 minutes (one GROUP BY);
- time on each step: p50, p90 and a histogram of the run's step rows' time_spent;
- errors grouped by step: bug reports, failed deployments, session-log errors, most frequent
  first;
- feedback ratings (feedback_submitted events, rating 1 to 5);
- the run's funnel next to the previous runs' (which step got worse).

A fixed number of queries: one per block, plus one funnel per compared run (at most
COMPARED_RUNS). Everything is bounded by the run's size (its sessions' rows and events).
"""

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

from django.db.models import Count, Func, IntegerField, Q
from django.utils import timezone

from analytics.dashboards.help_queue import SESSION_LOG, SESSION_LOG_ERROR, STEP_TITLES
from analytics.dashboards.selectors import DashboardFilters, FunnelStep, filtered_sessions, funnel
from analytics.models import Event, EventType
from progress.models import StepProgress
from workshop.bug_reports import report_entries, report_text
from workshop.models import WorkshopRun
from workshop.steps import STEPS

BUCKET_SECONDS = 300
COMPARED_RUNS = 3
FEEDBACK_SUBMITTED = EventType.FEEDBACK_SUBMITTED
# Histogram bins of time on a step, in minutes (the last one open-ended).
HISTOGRAM_EDGES = (0, 2, 5, 10, 15, 20, 30, 45, 60)
TOP_ERRORS = 15


class EpochBucket(Func):
    """The start (epoch seconds) of the BUCKET_SECONDS slot a timestamp falls in."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(FLOOR(EXTRACT(EPOCH FROM {sql}) / {BUCKET_SECONDS}) * {BUCKET_SECONDS})::bigint",
            params,
        )

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CAST(strftime('%%s', {sql}) AS INTEGER) / {BUCKET_SECONDS} * {BUCKET_SECONDS})",
            params,
        )


@dataclass(frozen=True)
class ActivityBucket:
    start: dt.datetime
    students: int
    events: int


@dataclass(frozen=True)
class StepTimes:
    step_number: int
    title: str
    rows: int
    p50: float | None
    p90: float | None
    histogram: list[tuple[str, int, int]]  # (label, count, bar width in percent)


@dataclass(frozen=True)
class ErrorGroup:
    kind: str  # "bug report", "failed deployment", "session-log error"
    step_number: int | None
    text: str
    count: int


@dataclass(frozen=True)
class StepComparison:
    step_number: int
    title: str
    this_run: float | None  # conversion from the previous step, percent
    previous: float | None  # mean over the compared runs
    delta: float | None


@dataclass
class RunReport:
    run: WorkshopRun
    activity: list[ActivityBucket]
    activity_peak: int
    step_times: list[StepTimes]
    errors: list[ErrorGroup]
    ratings: list[tuple[int, int, int]]  # (rating, count, width %)
    rating_average: float | None
    rating_count: int
    comments: list[str]
    funnel: list[FunnelStep]
    compared_runs: list[WorkshopRun] = field(default_factory=list)
    comparison: list[StepComparison] = field(default_factory=list)
    worst_step: StepComparison | None = None


def percentile(values: list[int], fraction: float) -> float | None:
    """Linear interpolation between closest ranks, as percentile_cont does."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def _histogram(seconds: list[int]) -> list[tuple[str, int, int]]:
    counts = [0] * len(HISTOGRAM_EDGES)
    for value in seconds:
        minutes = value / 60
        index = max(i for i, edge in enumerate(HISTOGRAM_EDGES) if minutes >= edge)
        counts[index] += 1
    widest = max(counts) or 1
    labels = [f"{low}-{high} min" for low, high in pairwise(HISTOGRAM_EDGES)] + [
        f"{HISTOGRAM_EDGES[-1]}+ min"
    ]
    return [(label, n, round(100 * n / widest)) for label, n in zip(labels, counts, strict=True)]


def activity(filters: DashboardFilters, run: WorkshopRun) -> list[ActivityBucket]:
    """Events and distinct active students per 5 minutes over the run's window."""
    counts = {
        bucket: (students, events)
        for bucket, students, events in Event.objects.filter(
            filters.session_q("session__"),
            created_at__gte=run.starts_at,
            created_at__lt=run.ends_at,
        )
        .annotate(bucket=EpochBucket("created_at"))
        .order_by()
        .values("bucket")
        .annotate(students=Count("student", distinct=True), events=Count("id"))
        .values_list("bucket", "students", "events")
    }
    end = min(run.ends_at, timezone.now()) if run.starts_at < timezone.now() else run.ends_at
    first = int(run.starts_at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    buckets = []
    for start in range(first, int(end.timestamp()) + 1, BUCKET_SECONDS):
        students, events = counts.get(start, (0, 0))
        buckets.append(
            ActivityBucket(dt.datetime.fromtimestamp(start, tz=dt.UTC), students, events)
        )
    return buckets


def step_times(filters: DashboardFilters) -> list[StepTimes]:
    by_step: dict[int, list[int]] = {}
    rows = StepProgress.objects.filter(filters.session_q("session__"), time_spent__isnull=False)
    for step, seconds in rows.values_list("step_number", "time_spent").iterator(chunk_size=2000):
        by_step.setdefault(step, []).append(seconds)
    return [
        StepTimes(
            step_number=step.number,
            title=step.title,
            rows=len(by_step.get(step.number, [])),
            p50=percentile(by_step.get(step.number, []), 0.5),
            p90=percentile(by_step.get(step.number, []), 0.9),
            histogram=_histogram(by_step.get(step.number, [])),
        )
        for step in STEPS
    ]


def errors(filters: DashboardFilters) -> list[ErrorGroup]:
    """Bug reports (from the sessions' lists), failed deployments and session-log errors,
    grouped by (kind, step, text), most frequent first."""
    groups: Counter = Counter()
    for value in (
        filtered_sessions(filters).exclude(bug_reports=[]).values_list("bug_reports", flat=True)
    ):
        for entry in report_entries(value):
            step = entry.get("step")
            groups[("bug report", step if step in STEP_TITLES else None, report_text(entry))] += 1
    events = Event.objects.filter(filters.session_q("session__")).filter(
        Q(event_type=EventType.DEPLOYMENT_FAILURE)
        | Q(event_type=SESSION_LOG, event_data__logType=SESSION_LOG_ERROR)
    )
    for event_type, data in events.values_list("event_type", "event_data").iterator(
        chunk_size=2000
    ):
        data = data if isinstance(data, dict) else {}
        step = data.get("stepNumber")
        step = step if step in STEP_TITLES else None
        if event_type == EventType.DEPLOYMENT_FAILURE:
            groups[("failed deployment", step, str(data.get("error") or "no message")[:200])] += 1
        else:
            detail = data.get("data")
            if isinstance(detail, dict):
                detail = detail.get("message") or detail.get("error") or detail
            groups[("session-log error", step, str(detail or "error")[:200])] += 1
    return [
        ErrorGroup(kind, step, text, count)
        for (kind, step, text), count in groups.most_common(TOP_ERRORS)
    ]


def feedback(filters: DashboardFilters):
    ratings: Counter = Counter()
    comments = []
    for data in (
        Event.objects.filter(filters.session_q("session__"), event_type=FEEDBACK_SUBMITTED)
        .order_by("-created_at")
        .values_list("event_data", flat=True)
    ):
        data = data if isinstance(data, dict) else {}
        rating = data.get("rating")
        if isinstance(rating, int) and 1 <= rating <= 5:
            ratings[rating] += 1
        message = data.get("message")
        if isinstance(message, str) and message.strip() and len(comments) < 10:
            comments.append(message.strip()[:500])
    total = sum(ratings.values())
    widest = max(ratings.values(), default=0) or 1
    rows = [(r, ratings[r], round(100 * ratings[r] / widest)) for r in range(5, 0, -1)]
    average = round(sum(r * n for r, n in ratings.items()) / total, 2) if total else None
    return rows, average, total, comments


def _reach(steps: list[FunnelStep]) -> dict[int, float | None]:
    return {step.step_number: step.conversion_from_previous for step in steps}


def run_report(filters: DashboardFilters, *, previous_runs: list[WorkshopRun]) -> RunReport:
    """The report of `filters.run`; `previous_runs` (earlier runs the user sees, newest
    first) give the comparison."""
    run = filters.run
    assert run is not None
    this_funnel = funnel(filters)
    rows, average, total, comments = feedback(filters)
    buckets = activity(filters, run)
    report = RunReport(
        run=run,
        activity=buckets,
        activity_peak=max((b.students for b in buckets), default=0),
        step_times=step_times(filters),
        errors=errors(filters),
        ratings=rows,
        rating_average=average,
        rating_count=total,
        comments=comments,
        funnel=this_funnel,
    )
    compared = previous_runs[:COMPARED_RUNS]
    if compared:
        reaches = [
            _reach(funnel(DashboardFilters(run=other, include_demo=filters.include_demo)))
            for other in compared
        ]
        mine = _reach(this_funnel)
        for step in STEPS:
            values = [r[step.number] for r in reaches if r[step.number] is not None]
            previous = round(sum(values) / len(values), 1) if values else None
            current = mine[step.number]
            delta = (
                round(current - previous, 1)
                if current is not None and previous is not None
                else None
            )
            report.comparison.append(
                StepComparison(step.number, step.title, current, previous, delta)
            )
        report.compared_runs = compared
        worsened = [c for c in report.comparison if c.delta is not None and c.delta < 0]
        report.worst_step = min(worsened, key=lambda c: c.delta, default=None)
    return report
