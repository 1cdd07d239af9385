"""progress.totals: the session-totals rule, and every form of it agreeing on the same cases."""

import pytest
from django.db import connection
from django.utils import timezone

from progress.services import StepUpdate, record_progress
from progress.tests.factories import StepProgressFactory
from progress.totals import (
    completion_rate,
    completion_rate_sql,
    recalculate_all_sessions,
    recalculate_session,
    refresh_totals,
    totals_from_steps,
)
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("completed", "rate"),
    [(0, 0), (1, 11), (2, 22), (3, 33), (4, 44), (5, 56), (6, 67), (7, 78), (8, 89), (9, 100)],
)
def test_completion_rate_rounds_like_sql(completed, rate):
    assert completion_rate(completed) == rate


def test_completion_rate_never_exceeds_100():
    assert completion_rate(12) == 100


def test_recalculate_counts_only_passed_steps():
    session = WorkshopSessionFactory(current_step=0, completion_rate=99, total_time_spent=5)
    StepProgressFactory(session=session, step_number=1, validation_passed=True, time_spent=120)
    StepProgressFactory(session=session, step_number=2, validation_passed=True, time_spent=30)
    StepProgressFactory(session=session, step_number=4, validation_passed=False, time_spent=999)

    totals = recalculate_session(session_token=session.session_token)

    session.refresh_from_db()
    assert (session.completion_rate, session.total_time_spent, session.current_step) == (22, 150, 4)
    assert (totals.completed_steps, totals.completion_rate) == (2, 22)


def test_recalculate_session_without_steps_resets_to_zero():
    session = WorkshopSessionFactory(current_step=3, completion_rate=33, total_time_spent=50)

    recalculate_session(session_token=session.session_token)

    session.refresh_from_db()
    assert (session.completion_rate, session.total_time_spent, session.current_step) == (0, 0, 0)


def test_recalculate_leaves_other_sessions_and_last_activity_alone():
    session = WorkshopSessionFactory()
    other = WorkshopSessionFactory(completion_rate=44, total_time_spent=7, current_step=5)
    StepProgressFactory(session=session, step_number=1, validation_passed=True, time_spent=10)
    before = WorkshopSession.objects.get(pk=session.pk).last_activity

    recalculate_session(session_token=session.session_token)

    assert WorkshopSession.objects.get(pk=session.pk).last_activity == before
    other.refresh_from_db()
    assert (other.completion_rate, other.total_time_spent, other.current_step) == (44, 7, 5)


def test_recalculate_runs_one_aggregate_and_one_update(django_assert_num_queries):
    session = WorkshopSessionFactory()
    for number in range(1, 10):
        StepProgressFactory(session=session, step_number=number, validation_passed=True)

    with django_assert_num_queries(2):
        recalculate_session(session_token=session.session_token)


@pytest.mark.postgres
@pytest.mark.parametrize("passed_steps", [set(), {1}, {1, 2, 3}, {2, 5, 6, 9}, set(range(1, 10))])
def test_python_and_sql_recalculation_agree(passed_steps):
    python_session = WorkshopSessionFactory()
    sql_session = WorkshopSessionFactory(student=python_session.student)
    for session in (python_session, sql_session):
        for number in range(1, 10):
            StepProgressFactory(
                session=session,
                step_number=number,
                validation_passed=number in passed_steps,
                time_spent=number * 61,
            )

    recalculate_session(session_token=python_session.session_token)
    with connection.cursor() as cursor:
        cursor.execute("SELECT update_session_progress(%s)", [sql_session.session_token])

    python_session.refresh_from_db()
    sql_session.refresh_from_db()
    assert (python_session.completion_rate, python_session.total_time_spent) == (
        sql_session.completion_rate,
        sql_session.total_time_spent,
    )
    assert python_session.total_time_spent == sum(n * 61 for n in passed_steps)


@pytest.mark.parametrize("passed", range(10))
def test_record_progress_writes_the_totals_recalculate_session_computes(passed):
    # record_progress refreshes the totals in one UPDATE of its own (a round trip less per
    # POST); it must agree with recalculate_session for every number of passed steps.
    session = WorkshopSessionFactory(current_step=0, completion_rate=0, total_time_spent=0)
    for number in range(1, 9):
        StepProgressFactory(
            session=session,
            student=session.student,
            step_number=number,
            validation_passed=number <= passed,
            time_spent=10 * number,
        )
    step = StepUpdate(step_number=9, completed=passed == 9, time_spent=7)

    record_progress(session_token=session.pk, step=step)

    written = WorkshopSession.objects.values_list(
        "completion_rate", "total_time_spent", "current_step"
    ).get(pk=session.pk)
    totals = recalculate_session(session_token=session.pk)
    expected_time = sum(10 * n for n in range(1, min(passed, 8) + 1)) + (7 if passed == 9 else 0)
    assert written == (totals.completion_rate, totals.total_time_spent, totals.current_step)
    assert written == (completion_rate(passed), expected_time, 9)


# (step_number, validation_passed, time_spent) per step row: no steps, touched but not
# passed, gaps, all passed, a zero time.
STEP_CASES = [
    [],
    [(1, False, 40)],
    [(1, True, 61), (2, False, 500)],
    [(1, True, 10), (2, True, 0), (3, True, 30), (5, False, 7)],
    [(2, True, 122), (5, True, 305), (6, True, 366), (9, True, 549), (7, False, 1)],
    [(n, n != 4, 60 * n) for n in range(1, 10)],
    [(n, True, 60 * n) for n in range(1, 10)],
]


def _session_with(steps):
    session = WorkshopSessionFactory(current_step=7, completion_rate=99, total_time_spent=12345)
    for number, passed, seconds in steps:
        StepProgressFactory(
            session=session, step_number=number, validation_passed=passed, time_spent=seconds
        )
    return session


def _stored(session):
    return WorkshopSession.objects.values_list(
        "completion_rate", "total_time_spent", "current_step"
    ).get(pk=session.pk)


@pytest.mark.parametrize("steps", STEP_CASES)
def test_every_form_of_the_rule_writes_the_same_row(steps):
    expected = totals_from_steps(steps)
    expected_row = (expected.completion_rate, expected.total_time_spent, expected.current_step)
    by_orm, by_statement, by_batch = (_session_with(steps) for _ in range(3))

    recalculate_session(session_token=by_orm.pk)
    refresh_totals(session_token=by_statement.pk, last_activity=timezone.now())
    recalculate_all_sessions(batch_size=2)

    assert expected.completed_steps == sum(1 for _, passed, _ in steps if passed)
    assert [_stored(s) for s in (by_orm, by_statement, by_batch)] == [expected_row] * 3


@pytest.mark.postgres
@pytest.mark.parametrize("steps", STEP_CASES)
def test_the_spec_sql_function_writes_the_rule(steps):
    # update_session_progress() (the spec's PL/pgSQL) sets rate and time; current_step is ours.
    expected = totals_from_steps(steps)
    session = _session_with(steps)

    with connection.cursor() as cursor:
        cursor.execute("SELECT update_session_progress(%s)", [session.pk])

    assert _stored(session)[:2] == (expected.completion_rate, expected.total_time_spent)


@pytest.mark.parametrize("completed", range(10))
def test_completion_rate_sql_computes_completion_rate(completed):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {completion_rate_sql('%s')}", [completed])
        assert cursor.fetchone()[0] == completion_rate(completed)
