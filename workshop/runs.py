"""Which workshop run a session belongs to, and which runs a user may see: THE membership rule.

A session belongs to the run an instructor explicitly moved it to (SessionRunMove), else to
the run whose window [starts_at, ends_at) contains its `started_at`; when windows overlap, the
run that started last wins (ties: the newer run). The frontend cannot name a run, so the
time window is the default; nothing is stored for sessions that were never moved.
"""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from workshop.models import SessionRunMove, WorkshopRun, WorkshopSession


def _later_run_containing(run: WorkshopRun, started_at_ref: OuterRef) -> QuerySet[WorkshopRun]:
    """Runs that also contain the session's start and win over `run` (started later)."""
    return WorkshopRun.objects.filter(
        Q(starts_at__gt=run.starts_at) | Q(starts_at=run.starts_at, pk__gt=run.pk),
        starts_at__lte=started_at_ref,
        ends_at__gt=started_at_ref,
    )


def _run_tokens_sql(run: WorkshopRun) -> RawSQL:
    """The tokens of the run's sessions as one subquery: the sessions moved there UNION ALL
    those started in its window (a range of idx_sessions_started_at) that were neither moved
    nor claimed by a later overlapping run. Two plain SELECTs rather than one OR across a
    join, which no index serves (a scan of every session: 200 ms at 140,000)."""
    moved = SessionRunMove.objects.filter(run=run).values("session_id")
    window = (
        WorkshopSession.objects.filter(started_at__gte=run.starts_at, started_at__lt=run.ends_at)
        .exclude(Exists(SessionRunMove.objects.filter(session=OuterRef("pk"))))
        .exclude(Exists(_later_run_containing(run, OuterRef("started_at"))))
        .order_by()
        .values("session_token")
    )
    moved_sql, moved_params = moved.query.sql_with_params()
    window_sql, window_params = window.query.sql_with_params()
    return RawSQL(
        f"SELECT * FROM ({moved_sql}) AS moved UNION ALL SELECT * FROM ({window_sql}) AS by_window",
        (*moved_params, *window_params),
    )


def sessions_of_run(run: WorkshopRun) -> QuerySet[WorkshopSession]:
    """The sessions of `run`: moved there, or started in its window and neither moved away
    nor claimed by a later overlapping run. One query, whatever the number of runs."""
    return WorkshopSession.objects.filter(session_token__in=_run_tokens_sql(run))


def run_session_q(run: WorkshopRun, prefix: str = "") -> Q:
    """Membership in `run` as a Q on sessions, or on a model reaching them through `prefix`
    (e.g. "session__" from step rows and events, "sessions__" from students)."""
    return Q(**{f"{prefix}session_token__in": _run_tokens_sql(run)})


def run_for_session(session: WorkshopSession) -> WorkshopRun | None:
    """The run `session` belongs to, or None: the explicit move, else the latest-starting run
    whose window contains its start."""
    move = SessionRunMove.objects.filter(session=session).select_related("run").first()
    if move is not None:
        return move.run
    if session.started_at is None:
        return None
    return (
        WorkshopRun.objects.filter(
            starts_at__lte=session.started_at, ends_at__gt=session.started_at
        )
        .order_by("-starts_at", "-pk")
        .first()
    )


def current_run(now: dt.datetime | None = None, *, runs: QuerySet | None = None):
    """The run in progress at `now` (the latest-starting when several are), or None."""
    now = now or timezone.now()
    runs = WorkshopRun.objects.all() if runs is None else runs
    return runs.filter(starts_at__lte=now, ends_at__gt=now).order_by("-starts_at", "-pk").first()


def runs_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[WorkshopRun]:
    """Superusers see every run; instructors (staff) the runs they are assigned to; anyone
    else none. Newest first."""
    if not user.is_authenticated or not user.is_active:
        return WorkshopRun.objects.none()
    if user.is_superuser:
        return WorkshopRun.objects.all()
    if not user.is_staff:
        return WorkshopRun.objects.none()
    return WorkshopRun.objects.filter(instructors=user)


def default_run_for(user, now: dt.datetime | None = None) -> WorkshopRun | None:
    """The run a page shows when none is chosen: the visible run in progress now, else the
    visible run that started last (before now), else None."""
    return pick_default_run(list(runs_visible_to(user)), now)


def pick_default_run(runs: list[WorkshopRun], now: dt.datetime | None = None):
    """default_run_for over runs already loaded (the dashboards list them anyway)."""
    now = now or timezone.now()
    started = sorted(
        (run for run in runs if run.starts_at <= now),
        key=lambda run: (run.starts_at, run.pk),
        reverse=True,
    )
    in_progress = [run for run in started if now < run.ends_at]
    return (in_progress or started or [None])[0]


def runs_ended_between(start: dt.datetime, end: dt.datetime) -> QuerySet[WorkshopRun]:
    """Runs whose end falls in [start, end): what a periodic "a run ended" job picks up."""
    return WorkshopRun.objects.filter(ends_at__gte=start, ends_at__lt=end).order_by("ends_at")


def instructors_of_session(session: WorkshopSession):
    """The instructors assigned to the session's run (an empty list when it has none)."""
    run = run_for_session(session)
    return list(run.instructors.filter(is_active=True)) if run is not None else []
