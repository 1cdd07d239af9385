"""The instructors' cockpit for a live run: the help queue (its page, the fragment that the
page polls, and its actions) and moving a session to another run.

Reads go through the dashboards' filters (so the run scoping is the same as every page's);
writes are POSTs that call a service and redirect back (they work without JavaScript).
"""

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from analytics import help_queue_services as help_services
from analytics.dashboards import class_grid
from analytics.dashboards import help_queue as queue
from analytics.dashboards import run_report as run_report_selectors
from analytics.dashboards.views import _bind, dashboard_view
from workshop import runs
from workshop.bug_reports import close_bug_report
from workshop.errors import NotFoundError
from workshop.models import WorkshopSession
from workshop.replica import served_from_replica
from workshop.run_services import move_session_to_run
from workshop.steps import STEPS

# The queue's page polls its fragment this often: a new signal shows within it (the issue
# asks for 5 s at most).
QUEUE_REFRESH_SECONDS = 3


class QueueForm(forms.Form):
    # The default is the empty value, so an unset query string shows "10 min" selected.
    idle = forms.TypedChoiceField(
        choices=[("", f"{queue.DEFAULT_THRESHOLD_MINUTES} min")]
        + [
            (m, f"{m} min") for m in queue.THRESHOLD_CHOICES if m != queue.DEFAULT_THRESHOLD_MINUTES
        ],
        coerce=int,
        empty_value=None,
        required=False,
        label="Stalled after",
    )

    def threshold(self) -> dt.timedelta:
        minutes = self.cleaned_data.get("idle") or queue.DEFAULT_THRESHOLD_MINUTES
        return dt.timedelta(minutes=minutes)


def _queue_context(request: HttpRequest) -> dict:
    filter_form, queue_form = _bind(request, QueueForm)
    now = timezone.now()
    rows = queue.help_queue(filter_form.filters(now), threshold=queue_form.threshold(), now=now)
    return {
        "filter_form": filter_form,
        "queue_form": queue_form,
        "rows": rows,
        "limit": queue.QUEUE_LIMIT,
        "refreshed_at": now,
        "back": request.get_full_path(),
        # Row links are built from these prefixes: reversing five URLs per row cost more
        # than the queue's query (a test checks them against reverse()).
        "help_prefix": reverse("dashboard:help-queue"),
        "student_prefix": reverse("dashboard:students"),
    }


@dashboard_view
def help_queue(request: HttpRequest) -> HttpResponse:
    """Who needs an instructor now, refreshing itself every few seconds."""
    context = _queue_context(request)
    query = request.GET.urlencode()
    live_url = reverse("dashboard:help-queue-live")
    context["live_url"] = f"{live_url}?{query}" if query else live_url
    context["refresh_seconds"] = QUEUE_REFRESH_SECONDS
    return render(request, "analytics/help_queue.html", context)


@dashboard_view
def help_queue_live(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request)
    # Actions on the fragment return to the page, not to the fragment.
    context["back"] = reverse("dashboard:help-queue") + (
        f"?{request.GET.urlencode()}" if request.GET else ""
    )
    return render(request, "analytics/_help_queue_rows.html", context)


def visible_session(request: HttpRequest, session_token: str) -> WorkshopSession:
    """The session, if it belongs to a run the user sees (superusers: any); else 404."""
    session = get_object_or_404(WorkshopSession.objects.select_related("student"), pk=session_token)
    if not request.user.is_superuser:
        run = runs.run_for_session(session)
        if run is None or not runs.runs_visible_to(request.user).filter(pk=run.pk).exists():
            raise Http404("no such session in your runs")
    return session


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("dashboard:help-queue")
    return HttpResponseRedirect(target or reverse("dashboard:help-queue"))


@require_POST
@dashboard_view
def claim(request: HttpRequest, session_token: str) -> HttpResponse:
    session = visible_session(request, session_token)
    help_services.claim_session(session=session, user=request.user)
    return _back(request)


@require_POST
@dashboard_view
def release(request: HttpRequest, session_token: str) -> HttpResponse:
    session = visible_session(request, session_token)
    help_services.release_session(session=session)
    return _back(request)


@require_POST
@dashboard_view
def resolve(request: HttpRequest, session_token: str) -> HttpResponse:
    session = visible_session(request, session_token)
    help_services.resolve_session(session=session, user=request.user)
    messages.success(request, f"Resolved: {session.student}. It comes back on a new signal.")
    return _back(request)


@require_POST
@dashboard_view
def close_report(request: HttpRequest, session_token: str, report_id: str) -> HttpResponse:
    session = visible_session(request, session_token)
    try:
        close_bug_report(
            session_token=session.pk, report_id=report_id, closed_by=request.user.get_username()
        )
    except NotFoundError:
        raise Http404("no such bug report") from None
    return _back(request)


@require_POST
@dashboard_view
def move_session(request: HttpRequest, session_token: str) -> HttpResponse:
    """Put a session in another of the user's runs (from the student page)."""
    session = visible_session(request, session_token)
    try:
        run_id = int(request.POST.get("run", ""))
    except ValueError:
        return render(
            request,
            "analytics/bad_request.html",
            {"errors": [("Run", "Choose a run to move the session to.")]},
            status=400,
        )
    run = runs.runs_visible_to(request.user).filter(pk=run_id).first()
    if run is None:
        return render(
            request,
            "analytics/bad_request.html",
            {"errors": [("Run", "No such run among yours.")]},
            status=400,
        )
    move_session_to_run(session=session, run=run, moved_by=request.user)
    messages.success(request, f"Session moved to {run}.")
    return _back(request)


# ---------------------------------------------------------------------------------------
# Class grid
# ---------------------------------------------------------------------------------------
class GridForm(forms.Form):
    sort = forms.CharField(required=False, max_length=40)
    idle = QueueForm.base_fields["idle"]

    def threshold(self) -> dt.timedelta:
        minutes = self.cleaned_data.get("idle") or queue.DEFAULT_THRESHOLD_MINUTES
        return dt.timedelta(minutes=minutes)


GRID_COLUMNS = [
    ("student", "Student"),
    ("progress", "Done"),
    ("step", "Step"),
    ("last_active", "Last active"),
]


@dashboard_view
@served_from_replica
def grid(request: HttpRequest) -> HttpResponse:
    """One row per student of the run, one cell per step, sortable."""
    filter_form, grid_form = _bind(request, GridForm)
    now = timezone.now()
    filters = filter_form.filters(now)
    sort = grid_form.cleaned_data.get("sort") or class_grid.DEFAULT_GRID_SORT
    if sort.lstrip("-") not in class_grid.GRID_SORTS:
        sort = class_grid.DEFAULT_GRID_SORT
    page_obj, rows = class_grid.grid_page(
        filters,
        sort=sort,
        page=request.GET.get("page"),
        stuck_after=grid_form.threshold(),
        now=now,
    )
    headers = []
    for key, label in GRID_COLUMNS:
        active = sort.lstrip("-") == key
        descending = sort.startswith("-")
        query = request.GET.copy()
        query["sort"] = ("" if descending else "-") + key if active else key
        query.pop("page", None)
        headers.append(
            {"label": label, "query": query.urlencode(), "active": active, "descending": descending}
        )
    return render(
        request,
        "analytics/grid.html",
        {
            "filter_form": filter_form,
            "grid_form": grid_form,
            "headers": headers,
            "steps": STEPS,
            "rows": rows,
            "page_obj": page_obj,
            "not_started": class_grid.roster_not_started(filter_form.selected_run, filters),
            # One reverse() for the page rather than one per row.
            "student_prefix": reverse("dashboard:students"),
        },
    )


# ---------------------------------------------------------------------------------------
# Run report: time and trouble per step, and the comparison with earlier runs
# ---------------------------------------------------------------------------------------
ACTIVITY_WIDTH, ACTIVITY_HEIGHT = 900, 180


def _activity_chart(report) -> dict:
    """Geometry of the activity SVG: one bar per 5 minutes (active students), scaled."""
    buckets = report.activity
    peak = report.activity_peak or 1
    slot = ACTIVITY_WIDTH / max(len(buckets), 1)
    plot = ACTIVITY_HEIGHT - 30
    bars = [
        {
            "x": round(i * slot, 1),
            "w": round(max(slot - 1, 1), 1),
            "h": round(plot * b.students / peak, 1),
            "y": round(plot - plot * b.students / peak, 1),
            "bucket": b,
        }
        for i, b in enumerate(buckets)
    ]
    busiest = max((b.events for b in buckets), default=0) or 1
    events_line = " ".join(
        f"{round(i * slot + slot / 2, 1)},{round(plot - plot * b.events / busiest, 1)}"
        for i, b in enumerate(buckets)
    )
    every = max(1, len(buckets) // 8)
    labels = [
        {"x": round(i * slot, 1), "text": timezone.localtime(b.start).strftime("%H:%M")}
        for i, b in enumerate(buckets)
        if i % every == 0
    ]
    return {
        "width": ACTIVITY_WIDTH,
        "height": ACTIVITY_HEIGHT,
        "baseline": plot,
        "bars": bars,
        "events_line": events_line,
        "events_peak": busiest,
        "labels": labels,
        "label_y": ACTIVITY_HEIGHT - 10,
    }


@dashboard_view
@served_from_replica
def run_report(request: HttpRequest) -> HttpResponse:
    """Activity, time on step, errors, feedback and the funnel against earlier runs."""
    (filter_form,) = _bind(request)
    filters = filter_form.filters()
    context = {"filter_form": filter_form, "report": None}
    run = filter_form.selected_run
    if run is not None:
        previous = [
            other
            for other in filter_form.runs
            if other.starts_at < run.starts_at and other.pk != run.pk
        ]
        previous.sort(key=lambda other: other.starts_at, reverse=True)
        report = run_report_selectors.run_report(filters, previous_runs=previous)
        context["report"] = report
        context["chart"] = _activity_chart(report)
    return render(request, "analytics/run_report.html", context)
