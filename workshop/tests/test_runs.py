"""Workshop runs: which sessions belong to which run, who sees which run, the roster."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from workshop import runs
from workshop.models import RunRosterEntry, SessionRunMove, WorkshopRun, WorkshopSession
from workshop.run_services import import_roster_csv, move_session_to_run
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def make_run(name: str, start_hours: float, hours: float = 3) -> WorkshopRun:
    start = T0 + dt.timedelta(hours=start_hours)
    return WorkshopRun.objects.create(
        name=name, starts_at=start, ends_at=start + dt.timedelta(hours=hours)
    )


def session_at(hours: float) -> WorkshopSession:
    return WorkshopSessionFactory(started_at=T0 + dt.timedelta(hours=hours))


def tokens(queryset) -> set[str]:
    return set(queryset.values_list("session_token", flat=True))


def test_a_session_belongs_to_the_run_whose_window_contains_its_start():
    morning, afternoon = make_run("morning", 0), make_run("afternoon", 4)
    early, inside, at_end, later, nowhere = (
        session_at(0),
        session_at(2.5),
        session_at(3),  # the window is half-open: the end belongs to no run here
        session_at(5),
        session_at(10),
    )
    assert tokens(runs.sessions_of_run(morning)) == {early.pk, inside.pk}
    assert tokens(runs.sessions_of_run(afternoon)) == {later.pk}
    assert runs.run_for_session(inside) == morning
    assert runs.run_for_session(at_end) is None
    assert runs.run_for_session(nowhere) is None


def test_overlapping_runs_give_a_session_to_the_one_that_started_last():
    long_run, short_run = make_run("long", 0, hours=8), make_run("short", 2, hours=2)
    before, during_both = session_at(1), session_at(3)
    assert tokens(runs.sessions_of_run(long_run)) == {before.pk}
    assert tokens(runs.sessions_of_run(short_run)) == {during_both.pk}
    assert runs.run_for_session(during_both) == short_run


def test_a_moved_session_belongs_to_its_new_run_only(instructor):
    morning, afternoon = make_run("morning", 0), make_run("afternoon", 4)
    session = session_at(1)
    move_session_to_run(session=session, run=afternoon, moved_by=instructor)
    assert tokens(runs.sessions_of_run(morning)) == set()
    assert tokens(runs.sessions_of_run(afternoon)) == {session.pk}
    assert runs.run_for_session(session) == afternoon
    move_session_to_run(session=session, run=morning, moved_by=instructor)
    assert SessionRunMove.objects.get(session=session).run == morning
    assert tokens(runs.sessions_of_run(morning)) == {session.pk}


def test_run_membership_as_a_q_works_from_related_models():
    run = make_run("morning", 0)
    inside, _outside = session_at(1), session_at(9)
    q = runs.run_session_q(run, prefix="sessions__")
    from workshop.models import Student

    assert list(Student.objects.filter(q)) == [inside.student]


def test_current_and_default_run(instructor, django_user_model):
    now = timezone.now()
    past = WorkshopRun.objects.create(
        name="past", starts_at=now - dt.timedelta(days=2), ends_at=now - dt.timedelta(days=1)
    )
    live = WorkshopRun.objects.create(
        name="live", starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=2)
    )
    assert runs.current_run(now) == live
    past.instructors.add(instructor)
    # Not assigned to the live run: the instructor's default is their latest run.
    assert runs.default_run_for(instructor, now) == past
    live.instructors.add(instructor)
    assert runs.default_run_for(instructor, now) == live


def test_instructors_see_their_runs_superusers_all(instructor, django_user_model):
    mine, other = make_run("mine", 0), make_run("other", 4)
    mine.instructors.add(instructor)
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    student = django_user_model.objects.create_user("student", password="pw")
    assert list(runs.runs_visible_to(instructor)) == [mine]
    assert set(runs.runs_visible_to(boss)) == {mine, other}
    assert list(runs.runs_visible_to(student)) == []


def test_instructors_of_session_and_runs_ended_between(instructor):
    run = make_run("morning", 0)
    run.instructors.add(instructor)
    assert runs.instructors_of_session(session_at(1)) == [instructor]
    assert runs.instructors_of_session(session_at(9)) == []
    ended = runs.runs_ended_between(T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=4))
    assert list(ended) == [run]


def test_roster_import_normalizes_skips_duplicates_and_reports_bad_lines():
    run = make_run("morning", 0)
    RunRosterEntry.objects.create(run=run, email="known@example.com")
    data = (
        b"Name,Email\nAda, Ada@Example.com \nKnown,known@example.com\nBad,not-an-email\n"
        b"Ada again,ada@example.com\n\n"
    )
    result = import_roster_csv(run=run, data=data)
    assert (result.added, result.already_there) == (1, 1)
    assert result.rejected == [(4, "not an email address: 'not-an-email'")]
    assert dict(run.roster.values_list("email", "name")) == {
        "ada@example.com": "Ada",
        "known@example.com": "",
    }


def test_roster_import_reads_a_bare_list_of_emails_and_refuses_binary():
    run = make_run("morning", 0)
    assert import_roster_csv(run=run, data=b"a@example.com\nb@example.com\n").added == 2
    with pytest.raises(ValidationError):
        import_roster_csv(run=run, data=b"\xff\xfe\x00")


def test_a_run_must_end_after_it_starts():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        WorkshopRun.objects.create(name="x", starts_at=T0, ends_at=T0)


@pytest.mark.postgres
def test_deleting_a_session_with_raw_sql_deletes_its_move():
    run = make_run("morning", 0)
    session = session_at(1)
    move_session_to_run(session=session, run=run)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sessions WHERE session_token = %s", [session.pk])
    assert not SessionRunMove.objects.exists()


def test_runs_are_managed_in_the_admin_with_a_roster_import(client, django_user_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    reply = client.post(
        "/admin/workshop/workshoprun/add/",
        {
            "name": "Berlin",
            "starts_at_0": "2026-11-20",
            "starts_at_1": "09:00:00",
            "ends_at_0": "2026-11-20",
            "ends_at_1": "12:00:00",
            "location": "Room 1",
            "instructors": [boss.pk],
            "roster_csv": SimpleUploadedFile("r.csv", b"email\nA@example.com\nb@example.com\n"),
            "roster-TOTAL_FORMS": "0",
            "roster-INITIAL_FORMS": "0",
        },
    )
    assert reply.status_code == 302, reply.content.decode()[:2000]
    run = WorkshopRun.objects.get(name="Berlin")
    assert list(run.roster.values_list("email", flat=True)) == ["a@example.com", "b@example.com"]
    assert list(run.instructors.all()) == [boss]
    listing = client.get("/admin/workshop/workshoprun/")
    assert listing.status_code == 200
    assert "Berlin" in listing.content.decode()


def test_the_admin_refuses_a_run_that_ends_before_it_starts(client, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    reply = client.post(
        "/admin/workshop/workshoprun/add/",
        {
            "name": "Backwards",
            "starts_at_0": "2026-11-20",
            "starts_at_1": "12:00:00",
            "ends_at_0": "2026-11-20",
            "ends_at_1": "09:00:00",
            "roster-TOTAL_FORMS": "0",
            "roster-INITIAL_FORMS": "0",
        },
    )
    assert reply.status_code == 200
    assert "The run must end after it starts." in reply.content.decode()
    assert not WorkshopRun.objects.exists()
