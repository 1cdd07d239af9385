"""recalculate_session: the Python twin of the SQL update_session_progress function."""

import pytest
from django.db import connection

from progress.services import completion_rate, recalculate_session
from progress.tests.factories import StepProgressFactory
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
