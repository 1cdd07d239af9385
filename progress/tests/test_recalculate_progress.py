"""recalculate_progress: repairs totals from the steps, set-based, on both databases."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from progress.tests.factories import StepProgressFactory
from progress.totals import recalculate_session
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def recalc(*args) -> str:
    out = StringIO()
    call_command("recalculate_progress", *args, stdout=out)
    return out.getvalue()


def totals(session):
    session.refresh_from_db()
    return session.completion_rate, session.total_time_spent, session.current_step


@pytest.fixture
def broken():
    wrong = WorkshopSessionFactory(completion_rate=100, total_time_spent=1, current_step=9)
    for number in range(1, 6):
        StepProgressFactory(
            session=wrong, step_number=number, validation_passed=number != 5, time_spent=10 * number
        )
    empty = WorkshopSessionFactory(completion_rate=33, total_time_spent=50, current_step=3)
    right = WorkshopSessionFactory()
    StepProgressFactory(session=right, step_number=1, validation_passed=True, time_spent=7)
    recalculate_session(session_token=right.session_token)
    return wrong, empty, right


def test_all_sessions_are_repaired_like_recalculate_session(broken):
    wrong, empty, right = broken

    out = recalc("--batch-size", "2")

    assert totals(wrong) == (44, 100, 5)
    assert totals(empty) == (0, 0, 0)
    assert totals(right) == (11, 7, 1)
    assert "Checked 3 sessions: 2 repaired." in out
    assert "checked 2 sessions" in out


def test_rates_match_the_service_for_every_count():
    sessions = []
    for completed in range(10):
        session = WorkshopSessionFactory(completion_rate=0)
        for number in range(1, completed + 1):
            StepProgressFactory(session=session, step_number=number, validation_passed=True)
        sessions.append(session)

    recalc()

    rates = [totals(s)[0] for s in sessions]
    assert rates == [0, 11, 22, 33, 44, 56, 67, 78, 89, 100]


def test_dry_run_counts_and_changes_nothing(broken):
    wrong, _, _ = broken

    out = recalc("--dry-run")

    assert "Checked 3 sessions: 2 would need repair." in out
    assert totals(wrong) == (100, 1, 9)


def test_second_run_repairs_nothing(broken):
    recalc()

    assert "0 repaired" in recalc()


def test_one_session(broken):
    wrong, empty, _ = broken

    out = recalc("--session", wrong.session_token)

    assert totals(wrong) == (44, 100, 5)
    assert totals(empty) == (33, 50, 3)
    assert "completion_rate 44" in out


def test_unknown_session_is_an_error():
    with pytest.raises(CommandError, match="No session"):
        recalc("--session", "nope")
    assert WorkshopSession.objects.count() == 0
