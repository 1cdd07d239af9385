"""export_progress: a complete, streamed, secret-free export in JSON or CSV."""

import csv
import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from analytics.privacy.exports import csv_header
from analytics.tests.factories import EventFactory
from progress.tests.factories import StepProgressFactory
from workshop.crypto import encrypt_secret
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def export(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def data():
    ann = StudentFactory(student_email="ann@example.org", student_name="Ann")
    session = WorkshopSessionFactory(
        student=ann,
        session_token="ws_ann",
        openai_api_key=encrypt_secret("sk-secret"),
        completion_rate=11,
        tools=[{"name": "t"}],
    )
    StepProgressFactory(session=session, step_number=1, validation_passed=True, time_spent=30)
    StepProgressFactory(session=session, step_number=3, time_spent=5)
    EventFactory(session=session, event_data={"n": 1})
    StudentFactory(student_email="lonely@example.org")
    return session


def test_json_export_is_one_valid_document_without_secrets(data):
    out, err = export()

    document = json.loads(out)
    assert document["format"] == "workshop-progress-export/1"
    by_email = {s["student_email"]: s for s in document["students"]}
    assert set(by_email) == {"ann@example.org", "lonely@example.org"}
    (session,) = by_email["ann@example.org"]["sessions"]
    assert session["session_token"] == "ws_ann"
    assert session["has_openai_api_key"] is True
    assert "openai_api_key" not in session
    assert session["tools"] == [{"name": "t"}]
    assert [
        (s["step_number"], s["validation_passed"], s["time_spent"]) for s in session["steps"]
    ] == [(1, True, 30), (3, False, 5)]
    assert [e["event_data"] for e in document["events"]] == [{"n": 1}]
    assert "sk-secret" not in out
    assert data.openai_api_key not in out
    assert "Exported 2 students, 1 sessions, 1 events as json to stdout." in err


def test_csv_export_has_one_row_per_session_with_its_steps(data, tmp_path):
    target = tmp_path / "export.csv"

    out, _ = export("--format", "csv", "--output", str(target))

    rows = list(csv.DictReader(target.open()))
    assert list(rows[0]) == csv_header()
    (row,) = rows
    assert (row["student_email"], row["session_token"], row["completion_rate"]) == (
        "ann@example.org",
        "ws_ann",
        "11",
    )
    assert (row["step_1_validation_passed"], row["step_1_time_spent"]) == ("True", "30")
    assert (row["step_3_validation_passed"], row["step_2_time_spent"]) == ("False", "")
    assert "openai_api_key" not in row
    assert "sk-secret" not in target.read_text()
    assert "Exported 1 sessions as csv" in out


def test_empty_database_exports_valid_json():
    out, _ = export()

    assert json.loads(out)["students"] == []


def test_query_count_does_not_grow_with_the_data(django_assert_max_num_queries):
    for n in range(30):
        session = WorkshopSessionFactory()
        StepProgressFactory(session=session, step_number=1 + n % 9)
        EventFactory(session=session)
    # students, their sessions, those sessions' steps (one chunk each), events: 4 queries
    # however many rows fit in a chunk.
    with django_assert_max_num_queries(4):
        _, err = export()
        assert "Exported 30 students, 30 sessions, 30 events as json" in err
    # csv: sessions with students, their steps.
    with django_assert_max_num_queries(2):
        out, _ = export("--format", "csv")
        assert len(list(csv.reader(io.StringIO(out)))) == 1 + 30


def test_unwritable_output_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Export failed"):
        export("--output", str(tmp_path / "missing" / "x.json"))
