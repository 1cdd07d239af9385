"""Read-side queries of the instructors' dashboards: overview totals, the step funnel, stuck
students with the reasons they are flagged, the students' completion summary and one student's
timeline.

Every function does its counting in the database (aggregates, subqueries) and runs a fixed
number of queries whatever the data size; Python only shapes the handful of rows that come
back (nine funnel steps, one page of students). docs/dashboards.md explains each number.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db import connections
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from analytics.models import EVENT_STEP_KEY, Event, EventType
from progress.models import StepProgress
from workshop.models import Student, WorkshopRun, WorkshopSession, large_json_columns
from workshop.runs import run_session_q
from workshop.steps import STEPS

# The thresholds an instructor can pick on the stuck page; 24 h is the spec's query.
STUCK_THRESHOLDS: dict[str, dt.timedelta] = {
    "15m": dt.timedelta(minutes=15),
    "1h": dt.timedelta(hours=1),
    "4h": dt.timedelta(hours=4),
    "24h": dt.timedelta(hours=24),
}
DEFAULT_STUCK_THRESHOLD = "24h"
LATEST_EVENTS_LIMIT = 20
TIMELINE_EVENTS_LIMIT = 500


@dataclass(frozen=True)
class DashboardFilters:
    """The filters every dashboard page offers, applied to sessions: the session started on
    or after `started_from` and on or before `started_to` (whole days, in the site's time
    zone), and demo sessions included or not."""

    started_from: dt.date | None = None
    started_to: dt.date | None = None
    include_demo: bool = True
    # The workshop run the page is about (workshop/runs.py decides membership); None with
    # `no_runs` False means every session (superusers' "all runs").
    run: WorkshopRun | None = None
    # An instructor assigned to no run sees nothing.
    no_runs: bool = False
    # A preset period ("last hour"): sessions started at or after this instant.
    started_after: dt.datetime | None = None

    @property
    def is_default(self) -> bool:
        return (
            self.started_from is None
            and self.started_to is None
            and self.include_demo
            and self.run is None
            and not self.no_runs
            and self.started_after is None
        )

    def session_q(self, prefix: str = "") -> Q:
        """The filters as a Q on sessions, reached from another model through `prefix`
        (e.g. "session__"). Bounds are datetimes so the started_at column stays indexable."""
        q = Q()
        if self.started_from is not None:
            q &= Q(**{f"{prefix}started_at__gte": _start_of_day(self.started_from)})
        if self.started_to is not None:
            next_day = self.started_to + dt.timedelta(days=1)
            q &= Q(**{f"{prefix}started_at__lt": _start_of_day(next_day)})
        if self.started_after is not None:
            q &= Q(**{f"{prefix}started_at__gte": self.started_after})
        if not self.include_demo:
            # demo_mode is nullable (spec DDL): NULL counts as not demo.
            q &= ~Q(**{f"{prefix}demo_mode": True})
        if self.no_runs:
            # Matches no session (the table's CHECK keeps completion_rate >= 0), yet stays a
            # plain condition that aggregates' FILTER clauses accept, unlike an empty IN.
            q &= Q(**{f"{prefix}completion_rate__lt": 0})
        elif self.run is not None:
            q &= run_session_q(self.run, prefix)
        return q


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filtered_sessions(filters: DashboardFilters) -> QuerySet[WorkshopSession]:
    return WorkshopSession.objects.filter(filters.session_q())


# ---------------------------------------------------------------------------------------
# Database functions that differ per backend
# ---------------------------------------------------------------------------------------
class JsonArrayLength(Func):
    """Number of items of a JSON array column; 0 for NULL or anything that is not an array
    (legacy rows may hold other JSON there)."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CASE WHEN jsonb_typeof({sql}) = 'array' THEN jsonb_array_length({sql}) ELSE 0 END)",
            params * 2,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(json_array_length({sql}), 0)", params


# ---------------------------------------------------------------------------------------
# Overview
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverviewTotals:
    students: int
    sessions: int
    active_sessions: int
    completed_sessions: int
    average_completion: float  # percent, 0 when there are no sessions


def overview_totals(filters: DashboardFilters) -> OverviewTotals:
    """Totals over the filtered sessions, in one aggregate query.

    students: distinct students with a session; active: is_active and not expired (what
    accepts progress); completed: completion_rate = 100; average of completion_rate.
    """
    now = timezone.now()
    row = filtered_sessions(filters).aggregate(
        students=Count("student", distinct=True),
        sessions=Count("session_token"),
        active=Count("session_token", filter=Q(is_active=True, expires_at__gt=now)),
        completed=Count("session_token", filter=Q(completion_rate=100)),
        average=Avg("completion_rate"),
    )
    return OverviewTotals(
        students=row["students"],
        sessions=row["sessions"],
        active_sessions=row["active"],
        completed_sessions=row["completed"],
        average_completion=round(float(row["average"] or 0), 1),
    )


@dataclass(frozen=True)
class StepOccupancy:
    step_number: int  # 0 = session created, no step touched yet
    title: str
    sessions: int


def sessions_per_current_step(filters: DashboardFilters) -> list[StepOccupancy]:
    """Where the live workshop is now: active, unfinished sessions grouped by current step
    (0 to 9), in one GROUP BY query. Steps nobody is on are listed with 0."""
    now = timezone.now()
    counts = dict(
        filtered_sessions(filters)
        .filter(is_active=True, expires_at__gt=now)
        .exclude(completion_rate=100)
        .order_by()
        .values_list("current_step")
        .annotate(n=Count("session_token"))
    )
    occupancy = [StepOccupancy(0, "Not started", counts.get(0, 0))]
    occupancy += [StepOccupancy(s.number, s.title, counts.get(s.number, 0)) for s in STEPS]
    return occupancy


def latest_events(filters: DashboardFilters, limit: int = LATEST_EVENTS_LIMIT) -> list[Event]:
    """The newest events, with their student and session in the same query. Read backwards
    along idx_events_created_at, so it stays fast with millions of events."""
    events = (
        Event.objects.select_related("student", "session")
        .defer(*large_json_columns("session__"))
        .order_by("-created_at", "-id")
    )
    if not filters.is_default:
        events = events.filter(filters.session_q("session__"))
    return list(events[:limit])


# ---------------------------------------------------------------------------------------
# Funnel
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunnelStep:
    step_number: int
    title: str
    started: int  # sessions with a step_progress row for the step
    completed: int  # ... of which validation_passed
    average_seconds: float | None  # over the started rows' time_spent
    median_seconds: float | None
    conversion_from_previous: float | None  # percent: completed / completed of step n-1
    conversion_from_first: float | None  # percent: completed / started of step 1
    drop_off: int  # started but not completed
    drop_off_rate: float | None  # percent of started


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def funnel_rows(filters: DashboardFilters) -> QuerySet:
    """The step_progress rows the funnel counts: those of the filtered sessions."""
    rows = StepProgress.objects.all()
    if not filters.is_default:
        rows = rows.filter(filters.session_q("session__"))
    return rows


def funnel(filters: DashboardFilters) -> list[FunnelStep]:
    """Steps 1 to 9: started, completed, conversions, drop-off, average and median time.

    One SQL statement, the same on PostgreSQL and SQLite (see `_funnel_sql`). Steps nobody
    reached are listed with zeros.
    """
    per_step = _funnel_counts(funnel_rows(filters))
    steps: list[FunnelStep] = []
    first_started = per_step.get(1, (0, 0, None, None))[0]
    previous_completed: int | None = None
    for step in STEPS:
        started, completed, average, median = per_step.get(step.number, (0, 0, None, None))
        steps.append(
            FunnelStep(
                step_number=step.number,
                title=step.title,
                started=started,
                completed=completed,
                average_seconds=None if average is None else round(float(average), 1),
                median_seconds=None if median is None else round(float(median), 1),
                conversion_from_previous=_percent(
                    completed, started if previous_completed is None else previous_completed
                ),
                conversion_from_first=_percent(completed, first_started),
                drop_off=started - completed,
                drop_off_rate=_percent(started - completed, started),
            )
        )
        previous_completed = completed
    return steps


# The funnel in one pass over the step rows, portable to SQLite. The rows are first counted
# per (step, time_spent): a hash aggregate, far cheaper than sorting a million rows as
# percentile_cont does. A running total over those few groups then finds the middle
# position(s): the median is the mean of the values at positions floor((n+1)/2) and
# floor(n/2)+1 of the n timed rows, exactly percentile_cont(0.5); PostgreSQL's SUM of
# bigints is numeric, so casts keep those divisions integer on both databases. Rows with a
# NULL time count as started but are left out of the average and median, as AVG and
# percentile_cont do.
_FUNNEL_SQL = """
WITH per_time AS (
    SELECT step_number, time_spent, COUNT(*) AS n,
           SUM(CASE WHEN validation_passed THEN 1 ELSE 0 END) AS passed
    FROM ({rows}) AS funnel_rows
    GROUP BY step_number, time_spent
), running AS (
    SELECT step_number, time_spent, n, passed,
           CAST(SUM(CASE WHEN time_spent IS NULL THEN 0 ELSE n END)
               OVER (PARTITION BY step_number ORDER BY time_spent
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS position,
           CAST(SUM(CASE WHEN time_spent IS NULL THEN 0 ELSE n END)
               OVER (PARTITION BY step_number) AS BIGINT) AS timed
    FROM per_time
)
SELECT step_number,
       SUM(n) AS started,
       SUM(passed) AS completed,
       SUM(time_spent * n) * 1.0 / NULLIF(SUM(CASE WHEN time_spent IS NULL THEN 0 ELSE n END), 0),
       (MIN(CASE WHEN time_spent IS NOT NULL AND position >= (timed + 1) / 2 THEN time_spent END)
        + MIN(CASE WHEN time_spent IS NOT NULL AND position >= timed / 2 + 1 THEN time_spent END)
       ) / 2.0
FROM running
GROUP BY step_number
"""


def _funnel_counts(rows: QuerySet) -> dict[int, tuple[int, int, float | None, float | None]]:
    """{step: (started, completed, average seconds, median seconds)} for the given rows."""
    inner, params = (
        rows.order_by().values("step_number", "time_spent", "validation_passed").query
    ).sql_with_params()
    # On the database the rows' own query would read (the replica inside reads_from_replica).
    with connections[rows.db].cursor() as cursor:
        cursor.execute(_FUNNEL_SQL.format(rows=inner), params)
        return {
            step: (int(started), int(completed), average, median)
            for step, started, completed, average, median in cursor.fetchall()
        }


def funnel_sessions(
    filters: DashboardFilters, *, step_number: int, kind: str
) -> QuerySet[StepProgress]:
    """The step rows behind one funnel count (`kind`: started, completed or dropped), with
    their session and student, newest first."""
    rows = funnel_rows(filters).filter(step_number=step_number)
    if kind == "completed":
        rows = rows.filter(validation_passed=True)
    elif kind == "dropped":
        rows = rows.exclude(validation_passed=True)
    return (
        rows.select_related("session", "student")
        .defer("code_submitted", *large_json_columns("session__"))
        .order_by("-started_at", "-id")
    )


# ---------------------------------------------------------------------------------------
# Stuck students
# ---------------------------------------------------------------------------------------
def stuck_sessions(
    filters: DashboardFilters, *, threshold: dt.timedelta, now: dt.datetime | None = None
) -> QuerySet[WorkshopSession]:
    """The spec's stuck query with a chosen threshold: active sessions, idle for longer than
    `threshold`, not finished, longest idle first. A session whose current step is already
    validated is not stuck on it (the flag clears once the step is completed).

    Each row carries why it is flagged: `step_attempts` and `step_time_spent` on the current
    step, `failed_deployments` (deployment_failure events of the session), `open_bug_reports`
    (items of its bug_reports list). Those come from correlated subqueries, which the
    database runs only for the page of rows shown.
    """
    now = now or timezone.now()
    current_step_row = StepProgress.objects.filter(
        session=OuterRef("pk"), step_number=OuterRef("current_step")
    )
    failures = (
        Event.objects.filter(session=OuterRef("pk"), event_type=EventType.DEPLOYMENT_FAILURE)
        .order_by()
        .values("session")
        .annotate(n=Count("id"))
        .values("n")
    )
    # "Current step not validated" as a scalar subquery rather than NOT EXISTS: PostgreSQL
    # turns NOT EXISTS into an anti-join that hashes every passed step row (400 ms at 870,000
    # rows) even when a handful of sessions are idle; the scalar form is one index probe per
    # candidate session (docs/benchmarks.md, "Dashboards and admin at scale").
    current_step_passed = Coalesce(
        Subquery(current_step_row.values("validation_passed")[:1]), Value(False)
    )
    return (
        filtered_sessions(filters)
        .filter(is_active=True, last_activity__lt=now - threshold, completion_rate__lt=100)
        .alias(current_step_passed=current_step_passed)
        .filter(current_step_passed=False)
        .select_related("student")
        .defer(*large_json_columns())
        .annotate(
            step_attempts=Coalesce(Subquery(current_step_row.values("attempts")[:1]), 0),
            step_time_spent=Coalesce(Subquery(current_step_row.values("time_spent")[:1]), 0),
            failed_deployments=Coalesce(Subquery(failures), 0),
            # The step of the latest failure, so the reason says where it failed.
            last_failure_step=Subquery(
                Event.objects.filter(
                    session=OuterRef("pk"), event_type=EventType.DEPLOYMENT_FAILURE
                )
                .order_by("-created_at", "-id")
                # As text, then a number: a JSON key read straight into the JSON field
                # comes back as a bare int on SQLite, which the field cannot decode.
                .annotate(step=Cast(KT(f"event_data__{EVENT_STEP_KEY}"), IntegerField()))
                .values("step")[:1]
            ),
            open_bug_reports=JsonArrayLength("bug_reports"),
        )
        .order_by("last_activity", "session_token")
    )


# ---------------------------------------------------------------------------------------
# Students
# ---------------------------------------------------------------------------------------
STUDENT_SORTS = {
    "email": "student_email",
    "name": "student_name",
    "sessions": "total_sessions",
    "completion": "avg_completion",
    "last_active": "last_active",
}
DEFAULT_STUDENT_SORT = "-last_active"


def students_summary(
    filters: DashboardFilters, *, search: str = "", sort: str = DEFAULT_STUDENT_SORT
) -> QuerySet[Student]:
    """The spec's completion summary: per student, sessions, average completion and last
    activity (students LEFT JOIN sessions GROUP BY student). With a date or demo filter, the
    aggregates count the matching sessions only and students without one are left out.

    `search` matches email, name or GitHub user (case-insensitive substring); `sort` is a key
    of STUDENT_SORTS, "-" first for descending. Unknown sort keys fall back to the default.
    """
    session_filter = filters.session_q("sessions__")
    aggregate_filter = None if filters.is_default else session_filter
    students = Student.objects.all()
    if not filters.is_default:
        # Only students with a matching session, found first (a semi-join), so a run of 100
        # groups 100 students rather than every student of the table.
        matching = filtered_sessions(filters).filter(student=OuterRef("pk"))
        students = students.filter(Exists(matching))
    students = students.annotate(
        total_sessions=Count("sessions", filter=aggregate_filter),
        avg_completion=Avg("sessions__completion_rate", filter=aggregate_filter),
        last_active=Max("sessions__last_activity", filter=aggregate_filter),
    )
    if not filters.is_default:
        students = students.filter(total_sessions__gt=0)
    students = students.filter(_student_search_q(search))
    descending = sort.startswith("-")
    column = STUDENT_SORTS.get(sort.lstrip("-"))
    if column is None:
        descending, column = True, STUDENT_SORTS["last_active"]
    order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    return students.order_by(order, "student_email")


def students_count(filters: DashboardFilters, *, search: str = "") -> int:
    """How many rows students_summary has, without its GROUP BY: every student when no
    filter is set, else those with a matching session (an EXISTS, like total_sessions > 0)."""
    students = Student.objects.filter(_student_search_q(search))
    if not filters.is_default:
        matching = filtered_sessions(filters).filter(student=OuterRef("pk"))
        students = students.filter(Exists(matching))
    return students.count()


def _student_search_q(search: str) -> Q:
    """Case-insensitive substring of email, name or GitHub user; everything when empty."""
    search = search.strip()
    if not search:
        return Q()
    return (
        Q(student_email__icontains=search)
        | Q(student_name__icontains=search)
        | Q(github_username__icontains=search)
    )


# ---------------------------------------------------------------------------------------
# One student
# ---------------------------------------------------------------------------------------
@dataclass
class SessionSteps:
    session: WorkshopSession
    steps: list[tuple[int, str, StepProgress | None]]  # all nine, None when not started


@dataclass
class StudentTimeline:
    student: Student
    sessions: list[SessionSteps]
    bug_reports: list[dict] = field(default_factory=list)  # {"session": token, "report": ...}
    events: list[Event] = field(default_factory=list)


def student_timeline(student: Student, filters: DashboardFilters) -> StudentTimeline:
    """A student's sessions (newest first) with all nine steps each, their bug reports and
    their newest events: three queries (sessions, steps, events)."""
    sessions = list(
        filtered_sessions(filters)
        .filter(student=student)
        # The page shows the bug reports, not the tools, voice settings or submitted code.
        .defer("tools", "voice_settings")
        .prefetch_related(Prefetch("steps", StepProgress.objects.defer("code_submitted")))
        .order_by(F("started_at").desc(nulls_last=True), "session_token")
    )
    bug_reports = []
    rows = []
    for session in sessions:
        by_number = {row.step_number: row for row in session.steps.all()}
        rows.append(
            SessionSteps(
                session=session,
                steps=[(s.number, s.title, by_number.get(s.number)) for s in STEPS],
            )
        )
        reports = session.bug_reports if isinstance(session.bug_reports, list) else []
        bug_reports += [{"session": session.session_token, "report": r} for r in reports]
    events = Event.objects.filter(student=student)
    if not filters.is_default:
        events = events.filter(filters.session_q("session__"))
    events = list(
        events.select_related("session")
        .defer(*large_json_columns("session__"))
        .order_by("-created_at", "-id")[:TIMELINE_EVENTS_LIMIT]
    )
    return StudentTimeline(student=student, sessions=rows, bug_reports=bug_reports, events=events)


# ---------------------------------------------------------------------------------------
# Feedback and reports without a session (the real frontend's submit-feedback and
# report-bug: docs/frontend.md)
# ---------------------------------------------------------------------------------------
LATEST_FEEDBACK_LIMIT = 8
STUDENT_FEEDBACK_LIMIT = 50


@dataclass(frozen=True)
class RatingSummary:
    ratings: int  # feedback with a rating (1 to 5)
    average: float | None


def _feedback_events(filters: DashboardFilters) -> QuerySet[Event]:
    """Feedback events within the filters' dates. The frontend sends feedback without a
    session, so the dates apply to when it was given and the demo filter does not apply."""
    events = Event.objects.filter(event_type=EventType.FEEDBACK_SUBMITTED)
    if filters.started_from is not None:
        events = events.filter(created_at__gte=_start_of_day(filters.started_from))
    if filters.started_to is not None:
        next_day = filters.started_to + dt.timedelta(days=1)
        events = events.filter(created_at__lt=_start_of_day(next_day))
    return events


def ratings_per_step(filters: DashboardFilters) -> dict[int | None, RatingSummary]:
    """{step (None: unknown): ratings and their average}, in one grouped query."""
    rows = (
        _feedback_events(filters)
        # Feedback without a rating stores null: SQLite would cast it to 0.
        .filter(event_data__has_key="rating")
        .exclude(event_data__rating=None)
        .annotate(
            step=Cast(KT("event_data__stepNumber"), IntegerField()),
            rating=Cast(KT("event_data__rating"), IntegerField()),
        )
        .values("step")
        .annotate(ratings=Count("rating"), average=Avg("rating"))
        .order_by()
    )
    return {
        row["step"]: RatingSummary(
            ratings=row["ratings"],
            average=None if row["average"] is None else round(float(row["average"]), 1),
        )
        for row in rows
        if row["ratings"]
    }


def overall_rating(per_step: dict[int | None, RatingSummary]) -> RatingSummary:
    ratings = sum(summary.ratings for summary in per_step.values())
    if not ratings:
        return RatingSummary(ratings=0, average=None)
    total = sum(summary.average * summary.ratings for summary in per_step.values())
    return RatingSummary(ratings=ratings, average=round(total / ratings, 1))


def latest_feedback_and_unattached_reports(
    filters: DashboardFilters, limit: int = LATEST_FEEDBACK_LIMIT
) -> list[Event]:
    """The newest feedback and the newest bug reports kept without a session (no token, an
    unknown one, a closed session), newest first, in one query."""
    feedback = _feedback_events(filters).values("id")
    unattached = Q(event_type=EventType.BUG_REPORTED, student__isnull=True)
    return list(
        Event.objects.filter(Q(id__in=feedback) | unattached).order_by("-created_at", "-id")[:limit]
    )


def student_feedback(student: Student) -> list[Event]:
    """The feedback a student gave from one of their sessions, newest first."""
    return list(
        Event.objects.filter(student=student, event_type=EventType.FEEDBACK_SUBMITTED).order_by(
            "-created_at", "-id"
        )[:STUDENT_FEEDBACK_LIMIT]
    )
