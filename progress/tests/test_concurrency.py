"""Parallel writers against real PostgreSQL: nothing fails, nothing duplicates, nothing is lost.

Each thread has its own database connection and transaction, as gunicorn workers do; a
barrier releases them together so their transactions really overlap.
"""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from analytics.models import Event, EventType
from progress.models import StepProgress
from progress.services import StepUpdate, record_progress, start_session
from workshop.models import Student, WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

THREADS = 8


def run_in_parallel(work: Callable[[int], object], count: int = THREADS) -> list[BaseException]:
    """Run work(0..count-1) in threads started together; return the exceptions raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_parallel_updates_of_one_step_make_one_row_with_every_attempt_and_second():
    session = WorkshopSessionFactory()

    errors = run_in_parallel(
        lambda i: record_progress(
            session_token=session.pk,
            step=StepUpdate(step_number=3, time_spent=10 + i, completed=True),
        )
    )

    assert errors == []
    row = StepProgress.objects.get(session_id=session.pk)
    assert (row.attempts, row.time_spent) == (THREADS, sum(10 + i for i in range(THREADS)))
    session.refresh_from_db()
    assert (session.total_time_spent, session.completion_rate) == (row.time_spent, 11)
    types = list(Event.objects.values_list("event_type", flat=True))
    assert types.count(EventType.STEP_PROGRESS) == THREADS
    assert types.count(EventType.STEP_STARTED) == 1
    assert types.count(EventType.STEP_COMPLETED) == 1


def test_parallel_first_posts_create_one_student_one_session_one_step():
    errors = run_in_parallel(
        lambda i: record_progress(
            session_token="ws_parallel_new",
            email="Racer@Example.com",
            step=StepUpdate(step_number=1, time_spent=5),
        )
    )

    assert errors == []
    assert Student.objects.filter(student_email="racer@example.com").count() == 1
    assert Student.objects.count() == 1
    session = WorkshopSession.objects.get()
    row = StepProgress.objects.get()
    assert (row.attempts, row.time_spent, session.current_step) == (THREADS, 5 * THREADS, 1)
    assert Event.objects.filter(event_type=EventType.SESSION_CREATED).count() == 1


def test_parallel_first_posts_without_email_leave_no_orphan_anonymous_student():
    errors = run_in_parallel(
        lambda i: record_progress(
            session_token="ws_parallel_anon", step=StepUpdate(step_number=2, time_spent=1)
        )
    )

    assert errors == []
    assert Student.objects.count() == 1
    assert StepProgress.objects.get().attempts == THREADS


def test_parallel_posts_of_different_steps_lose_no_totals():
    session = WorkshopSessionFactory()

    errors = run_in_parallel(
        lambda i: record_progress(
            session_token=session.pk,
            step=StepUpdate(step_number=i + 1, time_spent=100 * (i + 1), completed=True),
        ),
        count=9,
    )

    assert errors == []
    session.refresh_from_db()
    assert (session.completion_rate, session.current_step, session.total_time_spent) == (
        100,
        9,
        sum(100 * n for n in range(1, 10)),
    )


def test_parallel_session_creation_for_one_new_email_makes_one_student():
    errors = run_in_parallel(
        lambda i: start_session(student_email="twin@example.com", student_name=None)
    )

    assert errors == []
    assert Student.objects.count() == 1
    assert WorkshopSession.objects.count() == THREADS
