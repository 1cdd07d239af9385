"""The dashboards' read-side queries give exact numbers, on PostgreSQL and on SQLite."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from analytics.dashboards import selectors
from analytics.dashboards.selectors import DashboardFilters
from analytics.models import EventType
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

ALL = DashboardFilters()
NO_DEMO = DashboardFilters(include_demo=False)


def make_session(steps: list[tuple[int, bool, int]], **session_fields):
    """A session with step rows (number, passed, time_spent)."""
    session = WorkshopSessionFactory(**session_fields)
    for number, passed, seconds in steps:
        StepProgressFactory(
            session=session, step_number=number, validation_passed=passed, time_spent=seconds
        )
    return session


# ---------------------------------------------------------------------------------------
# Funnel
# ---------------------------------------------------------------------------------------
def test_funnel_counts_conversions_drop_off_and_times():
    make_session([(1, True, 100), (2, True, 40), (3, False, 10)])
    make_session([(1, True, 200), (2, False, 60)])
    make_session([(1, True, 300)])
    make_session([(1, False, 400)])

    steps = selectors.funnel(ALL)

    assert len(steps) == 9
    one, two, three, four = steps[:4]
    assert (one.started, one.completed, one.drop_off) == (4, 3, 1)
    assert (one.average_seconds, one.median_seconds) == (250.0, 250.0)
    assert (one.conversion_from_previous, one.conversion_from_first, one.drop_off_rate) == (
        75.0,
        75.0,
        25.0,
    )
    assert (two.started, two.completed, two.drop_off) == (2, 1, 1)
    # completed 1 of the 3 who completed step 1; 1 of the 4 who started step 1.
    assert (two.conversion_from_previous, two.conversion_from_first) == (33.3, 25.0)
    assert (two.average_seconds, two.median_seconds) == (50.0, 50.0)
    assert (three.started, three.completed, three.conversion_from_previous) == (1, 0, 0.0)
    assert (three.average_seconds, three.median_seconds) == (10.0, 10.0)
    # Nobody reached step 4: zeros, and no conversion from a step nobody completed.
    assert (four.started, four.completed, four.average_seconds, four.median_seconds) == (
        0,
        0,
        None,
        None,
    )
    assert (four.conversion_from_previous, four.drop_off_rate) == (None, None)
    assert [s.title for s in steps] == [
        "Setup",
        "Use Case",
        "Services",
        "Basic TwiML",
        "WebSocket Handler",
        "ConversationRelay",
        "Prompt Engineering",
        "Tools & Functions",
        "Deploy",
    ]


def test_funnel_median_is_the_middle_value_for_an_odd_count():
    for seconds in (5, 7, 1000):
        make_session([(2, True, seconds)])

    step_two = selectors.funnel(ALL)[1]

    assert (step_two.median_seconds, step_two.average_seconds) == (7.0, 337.3)


@pytest.mark.postgres
def test_funnel_average_and_median_equal_postgres_avg_and_percentile_cont():
    times = {1: [0, 5, 5, 9, 30, 31, None, 400], 2: [7, 3, 3, None, 12], 3: [None, None], 4: [42]}
    for number, values in times.items():
        for seconds in values:
            make_session([(number, seconds is not None and seconds > 4, seconds)])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT step_number, COUNT(*), AVG(time_spent),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY time_spent)"
            " FROM step_progress GROUP BY step_number ORDER BY step_number"
        )
        expected = [
            (n, count, None if avg is None else round(float(avg), 1), median)
            for n, count, avg, median in cursor.fetchall()
        ]

    steps = selectors.funnel(ALL)[:4]
    assert [(s.step_number, s.started, s.average_seconds, s.median_seconds) for s in steps] == (
        expected
    )
    assert expected[0] == (1, 8, 68.6, 9.0)


def test_funnel_excludes_demo_sessions_when_asked():
    make_session([(1, True, 10)], demo_mode=True)
    make_session([(1, False, 20)], demo_mode=False)
    make_session([(1, False, 30)], demo_mode=None)

    assert selectors.funnel(ALL)[0].started == 3
    step_one = selectors.funnel(NO_DEMO)[0]
    assert (step_one.started, step_one.completed, step_one.median_seconds) == (2, 0, 25.0)


def test_filters_bound_by_whole_days_of_session_start():
    day = dt.date(2026, 3, 10)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    make_session([(1, True, 1)], started_at=start - dt.timedelta(seconds=1))
    make_session([(1, True, 2)], started_at=start)
    make_session([(1, True, 4)], started_at=start + dt.timedelta(hours=23, minutes=59))
    make_session([(1, True, 8)], started_at=start + dt.timedelta(days=1))

    one_day = DashboardFilters(started_from=day, started_to=day)

    assert selectors.funnel(one_day)[0].started == 2
    assert selectors.overview_totals(one_day).sessions == 2
    assert selectors.funnel(DashboardFilters(started_from=day))[0].started == 3
    assert selectors.funnel(DashboardFilters(started_to=day))[0].started == 3


def test_funnel_sessions_lists_the_rows_behind_each_count():
    a = make_session([(1, True, 1), (2, True, 1)])
    b = make_session([(1, True, 1), (2, False, 1)])
    make_session([(1, False, 1)])

    def tokens(kind):
        rows = selectors.funnel_sessions(ALL, step_number=2, kind=kind)
        return {row.session_id for row in rows}

    assert tokens("started") == {a.session_token, b.session_token}
    assert tokens("completed") == {a.session_token}
    assert tokens("dropped") == {b.session_token}


# ---------------------------------------------------------------------------------------
# Overview
# ---------------------------------------------------------------------------------------
def test_overview_totals():
    now = timezone.now()
    ada = StudentFactory()
    WorkshopSessionFactory(student=ada, completion_rate=100, expires_at=now + dt.timedelta(hours=1))
    WorkshopSessionFactory(student=ada, completion_rate=50, expires_at=now - dt.timedelta(hours=1))
    WorkshopSessionFactory(completion_rate=0, is_active=False)
    WorkshopSessionFactory(completion_rate=33, demo_mode=True)

    totals = selectors.overview_totals(ALL)

    assert totals == selectors.OverviewTotals(
        students=3, sessions=4, active_sessions=2, completed_sessions=1, average_completion=45.8
    )
    assert selectors.overview_totals(NO_DEMO).sessions == 3


def test_overview_totals_without_sessions_are_zero():
    assert selectors.overview_totals(ALL) == selectors.OverviewTotals(0, 0, 0, 0, 0.0)


def test_sessions_per_current_step_counts_active_unfinished_sessions():
    WorkshopSessionFactory(current_step=3)
    WorkshopSessionFactory(current_step=3)
    WorkshopSessionFactory(current_step=0)
    WorkshopSessionFactory(current_step=9, completion_rate=100)  # finished
    WorkshopSessionFactory(current_step=5, is_active=False)
    WorkshopSessionFactory(current_step=5, expires_at=timezone.now() - dt.timedelta(minutes=1))

    occupancy = selectors.sessions_per_current_step(ALL)

    assert [(o.step_number, o.sessions) for o in occupancy] == [
        (0, 1),
        (1, 0),
        (2, 0),
        (3, 2),
        (4, 0),
        (5, 0),
        (6, 0),
        (7, 0),
        (8, 0),
        (9, 0),
    ]


def test_latest_events_are_newest_first_and_limited():
    session = WorkshopSessionFactory()
    base = timezone.now()
    for minutes in range(5):
        EventFactory(session=session, created_at=base - dt.timedelta(minutes=minutes))
    demo_event = EventFactory(session__demo_mode=True, created_at=base + dt.timedelta(minutes=1))

    events = selectors.latest_events(ALL, limit=3)

    assert [e.created_at for e in events] == [
        base + dt.timedelta(minutes=1),
        base,
        base - dt.timedelta(minutes=1),
    ]
    assert demo_event.id not in [e.id for e in selectors.latest_events(NO_DEMO)]


# ---------------------------------------------------------------------------------------
# Stuck students
# ---------------------------------------------------------------------------------------
def idle(minutes: int, **fields):
    fields.setdefault("current_step", 2)
    return WorkshopSessionFactory(
        last_activity=timezone.now() - dt.timedelta(minutes=minutes), **fields
    )


def test_stuck_follows_the_threshold_and_the_spec_conditions():
    idle_20m = idle(20)
    idle_2h = idle(120)
    idle(5)  # not idle long enough
    idle(600, is_active=False)
    idle(600, completion_rate=100)

    def stuck(threshold):
        rows = selectors.stuck_sessions(ALL, threshold=selectors.STUCK_THRESHOLDS[threshold])
        return [s.session_token for s in rows]

    # Longest idle first.
    assert stuck("15m") == [idle_2h.session_token, idle_20m.session_token]
    assert stuck("1h") == [idle_2h.session_token]
    assert stuck("24h") == []


def test_stuck_rows_say_why_they_are_flagged():
    session = idle(90, current_step=3, bug_reports=[{"title": "x"}, {"title": "y"}])
    StepProgressFactory(session=session, step_number=2, validation_passed=True, attempts=1)
    StepProgressFactory(session=session, step_number=3, attempts=4, time_spent=700)
    EventFactory(session=session, event_type=EventType.DEPLOYMENT_FAILURE)
    EventFactory(session=session, event_type=EventType.DEPLOYMENT_FAILURE)
    EventFactory(session=session, event_type=EventType.DEPLOYMENT_SUCCESS)
    EventFactory(event_type=EventType.DEPLOYMENT_FAILURE)  # someone else's

    (row,) = selectors.stuck_sessions(ALL, threshold=dt.timedelta(hours=1))

    assert (row.step_attempts, row.step_time_spent) == (4, 700)
    assert (row.failed_deployments, row.open_bug_reports) == (2, 2)


def test_stuck_reasons_default_to_zero_without_step_rows_or_reports():
    idle(90, bug_reports="not a list")

    (row,) = selectors.stuck_sessions(ALL, threshold=dt.timedelta(hours=1))

    assert (row.step_attempts, row.failed_deployments, row.open_bug_reports) == (0, 0, 0)


def test_stuck_flag_clears_once_the_current_step_is_completed():
    session = idle(90, current_step=4)
    row = StepProgressFactory(session=session, step_number=4, validation_passed=False)
    assert selectors.stuck_sessions(ALL, threshold=dt.timedelta(hours=1)).count() == 1

    row.validation_passed = True
    row.save()

    assert selectors.stuck_sessions(ALL, threshold=dt.timedelta(hours=1)).count() == 0


# ---------------------------------------------------------------------------------------
# Students
# ---------------------------------------------------------------------------------------
def test_students_summary_is_the_spec_completion_summary():
    now = timezone.now()
    ada = StudentFactory(student_email="ada@example.com", student_name="Ada")
    WorkshopSessionFactory(student=ada, completion_rate=100, last_activity=now)
    WorkshopSessionFactory(student=ada, completion_rate=33, last_activity=now - dt.timedelta(1))
    bob = StudentFactory(student_email="bob@example.com", student_name="Bob")
    WorkshopSessionFactory(student=bob, completion_rate=11, last_activity=now - dt.timedelta(2))
    StudentFactory(student_email="cy@example.com", student_name="Cy")  # no sessions

    rows = list(selectors.students_summary(ALL))

    summary = [
        (s.student_email, s.total_sessions, s.avg_completion and round(float(s.avg_completion), 1))
        for s in rows
    ]
    # Default sort: last active first, students never active last.
    assert summary == [
        ("ada@example.com", 2, 66.5),
        ("bob@example.com", 1, 11.0),
        ("cy@example.com", 0, None),
    ]
    assert rows[0].last_active == now


def test_students_summary_search_sort_and_filters():
    ada = StudentFactory(student_email="ada@example.com", github_username="lovelace")
    WorkshopSessionFactory(student=ada, completion_rate=20, demo_mode=True)
    WorkshopSessionFactory(student=ada, completion_rate=40)
    bob = StudentFactory(student_email="bob@example.com", github_username="bobby")
    WorkshopSessionFactory(student=bob, completion_rate=90, demo_mode=True)

    def emails(**kwargs):
        filters = kwargs.pop("filters", ALL)
        return [s.student_email for s in selectors.students_summary(filters, **kwargs)]

    assert emails(search="LOVE") == ["ada@example.com"]
    assert emails(sort="completion") == ["ada@example.com", "bob@example.com"]
    assert emails(sort="-completion") == ["bob@example.com", "ada@example.com"]
    assert emails(sort="nonsense") == emails(sort=selectors.DEFAULT_STUDENT_SORT)
    # Without demo sessions, bob has none left and ada's average is her real session's.
    (ada_row,) = selectors.students_summary(NO_DEMO)
    assert (ada_row.student_email, ada_row.total_sessions, ada_row.avg_completion) == (
        "ada@example.com",
        1,
        40,
    )


def test_student_timeline_has_all_nine_steps_per_session_and_bug_reports():
    ada = StudentFactory()
    old = make_session(
        [(1, True, 10)], student=ada, started_at=timezone.now() - dt.timedelta(days=2)
    )
    new = make_session(
        [(1, True, 5), (3, False, 7)],
        student=ada,
        started_at=timezone.now(),
        bug_reports=[{"description": "mic broken"}],
    )
    EventFactory(session=new, event_type=EventType.BUG_REPORTED)

    timeline = selectors.student_timeline(ada, ALL)

    assert [s.session.session_token for s in timeline.sessions] == [
        new.session_token,
        old.session_token,
    ]
    steps = timeline.sessions[0].steps
    assert [n for n, _, _ in steps] == list(range(1, 10))
    assert [row is not None for _, _, row in steps] == [True, False, True] + [False] * 6
    assert timeline.bug_reports == [
        {"session": new.session_token, "report": {"description": "mic broken"}}
    ]
    assert [e.event_type for e in timeline.events] == [EventType.BUG_REPORTED]


@pytest.mark.parametrize(
    ("filters", "search"),
    [(ALL, ""), (NO_DEMO, ""), (ALL, "example"), (NO_DEMO, "ada"), (ALL, "nobody")],
)
def test_students_count_equals_the_summary_rows(filters, search):
    ada = StudentFactory(student_email="ada@example.com")
    WorkshopSessionFactory(student=ada, demo_mode=True)
    WorkshopSessionFactory(student=ada)
    WorkshopSessionFactory(student__student_email="bob@example.com", demo_mode=True)
    StudentFactory(student_email="cy@example.com")

    rows = selectors.students_summary(filters, search=search)

    assert selectors.students_count(filters, search=search) == len(list(rows))
