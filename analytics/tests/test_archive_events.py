"""archive_events: old events leave the events table in batches, archived first (issue 14)."""

import datetime as dt
import gzip
import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from analytics.models import Event, EventType
from analytics.retention import archive_events
from analytics.tasks import archive_old_events
from analytics.tests.factories import EventFactory
from workshop.models import WorkshopRun
from workshop.tests.factories import WorkshopSessionFactory
from workshop.tests.test_settings import PRODUCTION, manage

pytestmark = pytest.mark.django_db


def aged(event: Event, days: float) -> Event:
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - dt.timedelta(days=days))
    event.refresh_from_db()
    return event


@pytest.fixture
def events():
    """Three events 40 days old, one 10 days old."""
    session = WorkshopSessionFactory(started_at=timezone.now() - dt.timedelta(days=50))
    old = [
        aged(EventFactory(session=session, event_data={"stepNumber": i, "note": "=1+1"}), 40)
        for i in (1, 2, 3)
    ]
    recent = aged(EventFactory(session=session), 10)
    return old, recent


def archived_lines(path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as archive:
        return [json.loads(line) for line in archive]


def run(*args: str) -> str:
    out = StringIO()
    call_command("archive_events", *args, stdout=out)
    return out.getvalue()


def test_old_events_are_archived_exactly_then_deleted_in_batches(events, tmp_path):
    old, recent = events
    target = tmp_path / "events.jsonl.gz"

    output = run("--older-than", "30", "--to", str(target), "--batch-size", "2")

    assert list(Event.objects.values_list("pk", flat=True)) == [recent.pk]
    assert archived_lines(target) == [
        {
            "id": event.pk,
            "student_id": str(event.student_id),
            "event_type": "step_progress",
            "event_data": {"stepNumber": number, "note": "=1+1"},
            "created_at": event.created_at.isoformat(),
            "session_token": event.session_id,
        }
        for number, event in enumerate(old, start=1)
    ]
    assert "Moved 3 events created before" in output
    assert "in 2 batches" in output
    assert "Kept 0 older events" in output


def test_a_rerun_moves_nothing_and_leaves_the_archive_as_it_was(events, tmp_path):
    target = tmp_path / "events.jsonl.gz"
    run("--older-than", "30", "--to", str(target))
    first = target.read_bytes()

    output = run("--older-than", "30", "--to", str(target))

    assert "Moved 0 events" in output
    assert target.read_bytes() == first
    assert Event.objects.count() == 1


def test_a_second_cutoff_appends_to_the_same_archive(events, tmp_path):
    old, recent = events
    target = tmp_path / "events.jsonl.gz"
    run("--older-than", "30", "--to", str(target))

    run("--older-than", "5", "--to", str(target))

    assert [line["id"] for line in archived_lines(target)] == [e.pk for e in [*old, recent]]
    assert not Event.objects.exists()


def test_dry_run_counts_and_changes_nothing(events, tmp_path):
    target = tmp_path / "events.jsonl.gz"

    output = run("--older-than", "30", "--to", str(target), "--dry-run")

    assert "Would move 3 events created before" in output
    assert "Dry run: nothing changed." in output
    assert Event.objects.count() == 4
    assert not target.exists()


def test_no_archive_deletes_without_a_copy(events, tmp_path):
    output = run("--older-than", "30", "--no-archive")

    assert "Moved 3 events" in output
    assert "deleted, no archive" in output
    assert Event.objects.count() == 1
    assert list(tmp_path.iterdir()) == []


def test_events_of_sessions_in_a_run_not_ended_are_kept(events, tmp_path):
    now = timezone.now()
    WorkshopRun.objects.create(
        name="long course",
        starts_at=now - dt.timedelta(days=60),
        ends_at=now + dt.timedelta(days=1),
    )
    ended = WorkshopRun.objects.create(
        name="old course",
        starts_at=now - dt.timedelta(days=90),
        ends_at=now - dt.timedelta(days=70),
    )
    outside = WorkshopSessionFactory(started_at=ended.starts_at + dt.timedelta(hours=1))
    gone = aged(EventFactory(session=outside), 80)

    output = run("--older-than", "30", "--to", str(tmp_path / "a.jsonl.gz"))

    assert [line["id"] for line in archived_lines(tmp_path / "a.jsonl.gz")] == [gone.pk]
    assert Event.objects.count() == 4
    assert "Kept 3 older events of sessions in runs not ended yet." in output


def test_events_without_a_creation_time_are_kept(tmp_path):
    event = EventFactory()
    Event.objects.filter(pk=event.pk).update(created_at=None)

    run("--older-than", "1", "--no-archive")

    assert Event.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--older-than", "0", "--no-archive"], "--older-than"),
        (["--older-than", "10000000", "--no-archive"], "--older-than"),
        (["--older-than", "30", "--no-archive", "--batch-size", "0"], "--batch-size"),
        (["--older-than", "30", "--to", "events.csv"], "--to"),
        (["--older-than", "30", "--to", "/no/such/folder/e.jsonl.gz"], "--to"),
        (["--older-than", "30"], "--to FILE.jsonl.gz, or --no-archive"),
        (["--older-than", "30", "--to", "e.jsonl.gz", "--no-archive"], "--no-archive"),
        (["--no-archive"], "--older-than"),
        (["--older-than", "ten", "--no-archive"], "--older-than"),
    ],
)
def test_bad_arguments_fail_naming_the_option_before_anything_changes(events, args, option):
    with pytest.raises(CommandError, match=option):
        run(*args)

    assert Event.objects.count() == 4


def test_an_existing_directory_is_not_an_archive_file(events, tmp_path):
    folder = tmp_path / "x.jsonl.gz"
    folder.mkdir()

    with pytest.raises(CommandError, match=r"--to: .* is not a file"):
        run("--older-than", "30", "--to", str(folder))

    assert Event.objects.count() == 4


def test_the_beat_task_archives_to_the_configured_folder(events, settings, tmp_path):
    settings.EVENTS_RETENTION_DAYS = 30
    settings.EVENTS_ARCHIVE_DIR = str(tmp_path)

    result = archive_old_events.delay().get()

    (archive,) = tmp_path.iterdir()
    assert archive.name.startswith("events-")
    assert archive.name.endswith(".jsonl.gz")
    assert result == {"archived": 3, "archive": str(archive)}
    assert len(archived_lines(archive)) == 3


def test_the_beat_task_does_nothing_while_retention_is_unset(events, settings):
    settings.EVENTS_RETENTION_DAYS = None

    assert archive_old_events.delay().get() == {"archived": 0}
    assert Event.objects.count() == 4


def _beat_schedule(env: dict[str, str]) -> dict:
    script = (
        "import json; from django.conf import settings; "
        "print(json.dumps({k: str(v['schedule']) for k, v in "
        "settings.CELERY_BEAT_SCHEDULE.items()}))"
    )
    result = manage("shell", "-c", script, env={**PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_retention_is_scheduled_only_when_set():
    assert "archive-events" not in _beat_schedule({})
    schedule = _beat_schedule({"EVENTS_RETENTION_DAYS": "90", "CLEANUP_TIME": "23:30"})
    assert schedule["archive-events"] == "<crontab: 15 0 * * * (m/h/dM/MY/d)>"


def test_events_of_every_type_survive_the_round_trip(tmp_path):
    session = WorkshopSessionFactory()
    made = [
        aged(EventFactory(session=session, event_type=kind, event_data={"k": [1, "é", None]}), 9)
        for kind in EventType.values
    ]

    archive_events(older_than_days=8, archive_to=tmp_path / "all.jsonl.gz")

    lines = archived_lines(tmp_path / "all.jsonl.gz")
    assert [(line["id"], line["event_type"]) for line in lines] == [
        (e.pk, e.event_type) for e in made
    ]
    assert {json.dumps(line["event_data"]) for line in lines} == {'{"k": [1, "\\u00e9", null]}'}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_someone_else_is_skipped_and_left_for_the_next_run(events, tmp_path):
    old, _ = events
    locked, released = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=old[1].pk)
                locked.set()
                released.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(timeout=10)
    try:
        report = archive_events(older_than_days=30, archive_to=tmp_path / "a.jsonl.gz")
    finally:
        released.set()
        holder.join()

    assert report.archived == 2
    assert set(Event.objects.values_list("pk", flat=True)) == {old[1].pk, events[1].pk}
    again = archive_events(older_than_days=30, archive_to=tmp_path / "a.jsonl.gz")
    assert again.archived == 1
    assert sorted(line["id"] for line in archived_lines(tmp_path / "a.jsonl.gz")) == sorted(
        e.pk for e in old
    )
    assert connections["default"].in_atomic_block is False
