"""The instructors' dashboards (staff only): parse the query string, call a selector, render.

Every page takes the shared filters (date range of session start, demo sessions); bad query
strings get a 400 page naming the field. CSV downloads stream the same selector's rows.
"""

import functools

from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from analytics.dashboards import selectors
from analytics.dashboards.forms import DashboardFilterForm, StuckForm, StudentListForm
from workshop.csv_export import csv_response
from workshop.models import Student
from workshop.replica import served_from_replica
from workshop.steps import STEPS, get_step

PAGE_SIZE = 50
OVERVIEW_STUCK_ROWS = 10
# The overview refreshes itself this often; ?refresh=N (seconds) overrides it, e.g. for a
# projector that should update faster or a test that cannot wait.
DEFAULT_REFRESH_SECONDS = 15
MIN_REFRESH_SECONDS, MAX_REFRESH_SECONDS = 1, 3600


class _BadQuery(Exception):
    def __init__(self, forms) -> None:
        self.forms = forms


def _bind(request: HttpRequest, *form_classes):
    """The filter form plus the page's own forms, bound to the query string; raises
    _BadQuery when any of them is invalid."""
    forms = [DashboardFilterForm(request.GET, user=request.user)]
    forms += [cls(request.GET) for cls in form_classes]
    if not all(form.is_valid() for form in forms):
        raise _BadQuery(forms)
    return forms


def _bad_request(request: HttpRequest, error: _BadQuery) -> HttpResponse:
    errors = [
        (form.fields[name].label or name if name in form.fields else "Filters", message)
        for form in error.forms
        for name, messages in form.errors.items()
        for message in messages
    ]
    # The filter form comes back as sent, with its errors, so the user corrects rather than
    # retypes it.
    context = {"errors": errors, "filter_form": error.forms[0]}
    return render(request, "analytics/bad_request.html", context, status=400)


def dashboard_view(view):
    """Staff only (anonymous visitors go to the admin login) and 400 on a bad query string."""

    @staff_member_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _BadQuery as error:
            return _bad_request(request, error)

    return wrapper


class _CountedPaginator(Paginator):
    """A paginator told its row count by a cheaper query than COUNT over the page's query."""

    def __init__(self, object_list, per_page, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


def _page(request: HttpRequest, rows, *, count: int | None = None):
    if count is None:
        paginator = Paginator(rows, PAGE_SIZE)
    else:
        paginator = _CountedPaginator(rows, PAGE_SIZE, count=count)
    return paginator.get_page(request.GET.get("page"))


# ---------------------------------------------------------------------------------------
# Overview
# ---------------------------------------------------------------------------------------
def _refresh_seconds(request: HttpRequest) -> int:
    try:
        seconds = int(request.GET.get("refresh", DEFAULT_REFRESH_SECONDS))
    except ValueError:
        seconds = DEFAULT_REFRESH_SECONDS
    return max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, seconds))


def _overview_context(request: HttpRequest) -> dict:
    filter_form, stuck_form = _bind(request, StuckForm)
    filters = filter_form.filters()
    threshold_key = stuck_form.threshold_key()
    stuck = selectors.stuck_sessions(filters, threshold=selectors.STUCK_THRESHOLDS[threshold_key])
    occupancy = selectors.sessions_per_current_step(filters)
    widest = max((step.sessions for step in occupancy), default=0) or 1
    return {
        "filter_form": filter_form,
        "totals": selectors.overview_totals(filters),
        "occupancy": [(step, round(100 * step.sessions / widest)) for step in occupancy],
        "stuck": list(stuck[:OVERVIEW_STUCK_ROWS]),
        "stuck_total": stuck.count(),
        "stuck_threshold": threshold_key,
        "thresholds": list(selectors.STUCK_THRESHOLDS),
        "events": selectors.latest_events(filters),
        "refreshed_at": timezone.now(),
        "now": timezone.now(),
    }


@dashboard_view
@served_from_replica
def overview(request: HttpRequest) -> HttpResponse:
    """The live workshop view: totals, sessions per step, stuck list, latest events."""
    context = _overview_context(request)
    context["refresh_seconds"] = _refresh_seconds(request)
    # Feedback changes slowly: on the page, not in the fragment refreshed every few seconds.
    filters = context["filter_form"].filters()
    context["rating"] = selectors.overall_rating(selectors.ratings_per_step(filters))
    context["feedback"] = selectors.latest_feedback_and_unattached_reports(filters)
    # The fragment is fetched with the page's filters, without the refresh interval.
    query = request.GET.copy()
    query.pop("refresh", None)
    live_url = reverse("dashboard:overview-live")
    context["live_url"] = f"{live_url}?{query.urlencode()}" if query else live_url
    return render(request, "analytics/overview.html", context)


@dashboard_view
@served_from_replica
def overview_live(request: HttpRequest) -> HttpResponse:
    """The overview's refreshing part alone, fetched by refresh.js every few seconds."""
    return render(request, "analytics/_overview_live.html", _overview_context(request))


# ---------------------------------------------------------------------------------------
# Funnel
# ---------------------------------------------------------------------------------------
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 900, 300, 20, 40


def _funnel_chart(steps: list[selectors.FunnelStep]) -> dict:
    """Geometry of the server-rendered SVG bar chart: per step a started bar and a completed
    bar, scaled to the largest started count."""
    tallest = max((step.started for step in steps), default=0) or 1
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot = CHART_WIDTH / len(steps)
    bar = slot * 0.35
    bars = []
    for index, step in enumerate(steps):
        x = index * slot + slot * 0.12
        started_h = plot_height * step.started / tallest
        completed_h = plot_height * step.completed / tallest
        bars.append(
            {
                "step": step,
                "label_x": round(index * slot + slot / 2, 1),
                # Widths of the phone layout's horizontal bars, in percent.
                "started_pct": round(100 * step.started / tallest),
                "completed_pct": round(100 * step.completed / tallest),
                "started": {
                    "x": round(x, 1),
                    "y": round(CHART_TOP + plot_height - started_h, 1),
                    "h": round(started_h, 1),
                },
                "completed": {
                    "x": round(x + bar, 1),
                    "y": round(CHART_TOP + plot_height - completed_h, 1),
                    "h": round(completed_h, 1),
                },
            }
        )
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "bar_width": round(bar, 1),
        "baseline": CHART_TOP + plot_height,
        "label_y": CHART_HEIGHT - 24,
        "bars": bars,
    }


@dashboard_view
@served_from_replica
def funnel(request: HttpRequest) -> HttpResponse:
    """Steps 1 to 9 as a chart and a table; every count links to its sessions."""
    (filter_form,) = _bind(request)
    steps = selectors.funnel(filter_form.filters())
    ratings = selectors.ratings_per_step(filter_form.filters())
    return render(
        request,
        "analytics/funnel.html",
        {
            "filter_form": filter_form,
            "steps": steps,
            "chart": _funnel_chart(steps),
            "rows": [(step, ratings.get(step.step_number)) for step in steps],
            "rating": selectors.overall_rating(ratings),
        },
    )


FUNNEL_CSV_HEADER = [
    "step_number",
    "step_name",
    "started",
    "completed",
    "conversion_from_previous_pct",
    "conversion_from_step_1_pct",
    "drop_off",
    "drop_off_pct",
    "average_seconds",
    "median_seconds",
]


@dashboard_view
@served_from_replica
def funnel_csv(request: HttpRequest) -> HttpResponse:
    (filter_form,) = _bind(request)
    rows = (
        [
            s.step_number,
            s.title,
            s.started,
            s.completed,
            s.conversion_from_previous,
            s.conversion_from_first,
            s.drop_off,
            s.drop_off_rate,
            s.average_seconds,
            s.median_seconds,
        ]
        for s in selectors.funnel(filter_form.filters())
    )
    return csv_response(filename="funnel.csv", header=FUNNEL_CSV_HEADER, rows=rows)


FUNNEL_KIND_LABELS = {
    "started": "started",
    "completed": "completed",
    "dropped": "started but not completed",
}


@dashboard_view
@served_from_replica
def funnel_step(request: HttpRequest, step_number: int, kind: str) -> HttpResponse:
    """The sessions behind one funnel count."""
    if kind not in FUNNEL_KIND_LABELS:
        raise Http404("unknown funnel count")
    try:
        step = get_step(step_number)
    except KeyError:
        raise Http404("no such step") from None
    (filter_form,) = _bind(request)
    rows = selectors.funnel_sessions(filter_form.filters(), step_number=step_number, kind=kind)
    return render(
        request,
        "analytics/funnel_step.html",
        {
            "filter_form": filter_form,
            "step": step,
            "kind": kind,
            "kind_label": FUNNEL_KIND_LABELS[kind],
            "page_obj": _page(request, rows),
        },
    )


# ---------------------------------------------------------------------------------------
# Stuck students
# ---------------------------------------------------------------------------------------
def _stuck(request: HttpRequest):
    filter_form, stuck_form = _bind(request, StuckForm)
    key = stuck_form.threshold_key()
    rows = selectors.stuck_sessions(
        filter_form.filters(), threshold=selectors.STUCK_THRESHOLDS[key]
    )
    return filter_form, stuck_form, key, rows


@dashboard_view
@served_from_replica
def stuck(request: HttpRequest) -> HttpResponse:
    """Sessions idle beyond the chosen threshold on an unfinished step, and why."""
    filter_form, stuck_form, key, rows = _stuck(request)
    return render(
        request,
        "analytics/stuck.html",
        {
            "filter_form": filter_form,
            "stuck_form": stuck_form,
            "threshold": key,
            "thresholds": list(selectors.STUCK_THRESHOLDS),
            "page_obj": _page(request, rows),
            "now": timezone.now(),
        },
    )


STUCK_CSV_HEADER = [
    "student_email",
    "student_name",
    "session_token",
    "current_step",
    "last_activity",
    "idle_minutes",
    "attempts_on_step",
    "time_on_step_seconds",
    "failed_deployments",
    "open_bug_reports",
]


@dashboard_view
@served_from_replica
def stuck_csv(request: HttpRequest) -> HttpResponse:
    _, _, key, rows = _stuck(request)
    now = timezone.now()
    lines = (
        [
            s.student.student_email,
            s.student.student_name,
            s.session_token,
            s.current_step,
            s.last_activity.isoformat() if s.last_activity else "",
            int((now - s.last_activity).total_seconds() // 60) if s.last_activity else "",
            s.step_attempts,
            s.step_time_spent,
            s.failed_deployments,
            s.open_bug_reports,
        ]
        for s in rows.iterator(chunk_size=2000)
    )
    return csv_response(filename=f"stuck-{key}.csv", header=STUCK_CSV_HEADER, rows=lines)


# ---------------------------------------------------------------------------------------
# Students
# ---------------------------------------------------------------------------------------
def _students(request: HttpRequest):
    filter_form, list_form = _bind(request, StudentListForm)
    sort = list_form.cleaned_data.get("sort") or selectors.DEFAULT_STUDENT_SORT
    search = list_form.cleaned_data.get("q") or ""
    rows = selectors.students_summary(filter_form.filters(), search=search, sort=sort)
    return filter_form, list_form, sort, search, rows


@dashboard_view
@served_from_replica
def students(request: HttpRequest) -> HttpResponse:
    """The spec's completion summary, searchable, sortable and paginated."""
    filter_form, list_form, sort, search, rows = _students(request)
    columns = [
        ("email", "Email"),
        ("name", "Name"),
        ("sessions", "Sessions"),
        ("completion", "Average completion"),
        ("last_active", "Last active"),
    ]
    headers = []
    for key, label in columns:
        active = sort.lstrip("-") == key
        descending = sort.startswith("-")
        # Clicking the sorted column flips it; another column sorts ascending first.
        next_sort = ("" if descending else "-") + key if active else key
        headers.append(
            {"label": label, "sort": next_sort, "active": active, "descending": descending}
        )
    return render(
        request,
        "analytics/students.html",
        {
            "filter_form": filter_form,
            "list_form": list_form,
            "headers": headers,
            "page_obj": _page(
                request,
                rows,
                count=selectors.students_count(filter_form.filters(), search=search),
            ),
        },
    )


STUDENTS_CSV_HEADER = [
    "student_id",
    "student_email",
    "student_name",
    "github_username",
    "total_sessions",
    "avg_completion",
    "last_active",
]


@dashboard_view
@served_from_replica
def students_csv(request: HttpRequest) -> HttpResponse:
    *_, rows = _students(request)
    # Plain tuples, not model instances: building 100,000 Students cost more than the query.
    lines = (
        [
            student_id,
            email,
            name,
            github,
            sessions,
            None if average is None else round(float(average), 1),
            last_active.isoformat() if last_active else "",
        ]
        for student_id, email, name, github, sessions, average, last_active in rows.values_list(
            *STUDENTS_CSV_HEADER
        ).iterator(chunk_size=2000)
    )
    return csv_response(filename="students.csv", header=STUDENTS_CSV_HEADER, rows=lines)


# From the primary: moving a session to another run (cockpit_views.move_session) comes back
# here, and the instructor must see the move they just made.
@dashboard_view
def student(request: HttpRequest, student_id) -> HttpResponse:
    """One student: sessions, nine steps each, bug reports and the event timeline."""
    (filter_form,) = _bind(request)
    record = get_object_or_404(Student, student_id=student_id)
    filters = filter_form.filters()
    timeline = selectors.student_timeline(record, filters)
    if not timeline.sessions and not request.user.is_superuser:
        # Instructors see students of their runs only.
        raise Http404("no such student in your runs")
    return render(
        request,
        "analytics/student.html",
        {
            "filter_form": filter_form,
            "timeline": timeline,
            "runs": filter_form.runs,
            "feedback": selectors.student_feedback(record),
            "timeline_limit": selectors.TIMELINE_EVENTS_LIMIT,
            "steps": STEPS,
        },
    )
