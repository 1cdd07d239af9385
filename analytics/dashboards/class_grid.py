"""The class grid: one row per session of the run, one cell per step (the Moodle completion
report is the model), plus the roster's participants who have not started.

A cell is "done" (validation passed), "stuck" (the session's current step, not validated,
idle longer than the threshold), "working" (a row exists) or "not started" (no row).
Three queries per page (count, sessions, their steps) and one for the roster, whatever the
size of the run.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import F, QuerySet

from analytics.dashboards.selectors import DashboardFilters, filtered_sessions
from progress.models import StepProgress
from workshop.formatting import human_duration
from workshop.models import RunRosterEntry, WorkshopRun, WorkshopSession
from workshop.steps import STEPS

GRID_SORTS = {
    "student": "student__student_email",
    "progress": "completion_rate",
    "step": "current_step",
    "last_active": "last_activity",
    "started": "started_at",
}
DEFAULT_GRID_SORT = "-progress"
GRID_PAGE_SIZE = 100

DONE, WORKING, STUCK, NOT_STARTED = "done", "working", "stuck", "not_started"


@dataclass(frozen=True)
class Cell:
    step_number: int
    state: str
    attempts: int = 0
    seconds: int = 0

    @property
    def text(self) -> str:
        """What the cell shows: attempts and time (formatted here: a grid of 900 cells
        renders noticeably faster without a template filter per cell)."""
        if self.state == NOT_STARTED:
            return "·"
        return f"{self.attempts}\N{MULTIPLICATION SIGN} {human_duration(self.seconds)}"


@dataclass
class GridRow:
    session: WorkshopSession
    cells: list[Cell]


def grid_sessions(filters: DashboardFilters, *, sort: str = DEFAULT_GRID_SORT) -> QuerySet:
    descending = sort.startswith("-")
    column = GRID_SORTS.get(sort.lstrip("-"))
    if column is None:
        descending, column = True, GRID_SORTS["progress"]
    order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    return (
        filtered_sessions(filters)
        .select_related("student")
        .order_by(order, "student__student_email", "session_token")
    )


def grid_page(
    filters: DashboardFilters,
    *,
    sort: str,
    page: str | None,
    stuck_after: dt.timedelta,
    now: dt.datetime,
):
    """One page of the grid: (page object, rows)."""
    page_obj = Paginator(grid_sessions(filters, sort=sort), GRID_PAGE_SIZE).get_page(page)
    sessions = list(page_obj.object_list)
    steps: dict[str, dict[int, StepProgress]] = {}
    for row in StepProgress.objects.filter(session__in=[s.pk for s in sessions]).only(
        "session_id", "step_number", "attempts", "time_spent", "validation_passed"
    ):
        steps.setdefault(row.session_id, {})[row.step_number] = row
    rows = []
    for session in sessions:
        by_number = steps.get(session.pk, {})
        idle = now - session.last_activity if session.last_activity else dt.timedelta(0)
        cells = []
        for step in STEPS:
            row = by_number.get(step.number)
            if row is None:
                cells.append(Cell(step.number, NOT_STARTED))
                continue
            if row.validation_passed:
                state = DONE
            elif step.number == session.current_step and session.is_active and idle > stuck_after:
                state = STUCK
            else:
                state = WORKING
            cells.append(Cell(step.number, state, row.attempts or 0, row.time_spent or 0))
        rows.append(GridRow(session=session, cells=cells))
    return page_obj, rows


def roster_not_started(run: WorkshopRun | None, filters: DashboardFilters) -> list:
    """Roster entries of the run whose email has no session in the run: registered but not
    started. One query."""
    if run is None:
        return []
    emails_with_session = filtered_sessions(filters).values("student__student_email")
    return list(
        RunRosterEntry.objects.filter(run=run)
        .exclude(email__in=emails_with_session)
        .order_by("email")
    )
