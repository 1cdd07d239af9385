"""Every CSV this project writes goes through the one defusing writer (workshop.csv_export):
student text starting with a formula character never reaches a spreadsheet raw (issue 11)."""

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from progress.tests.factories import StepProgressFactory
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("https://evil.example","click")'


@pytest.fixture
def hostile():
    student = StudentFactory(student_email="eve@example.com", student_name=FORMULA)
    session = WorkshopSessionFactory(
        student=student,
        system_prompt="+cmd",
        ivr_greeting="@SUM(1)",
        last_activity=timezone.now() - dt.timedelta(days=2),
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    StepProgressFactory(session=session, step_number=1, step_name="-2+3", code_submitted="=1")
    return session


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_defused(text: str) -> None:
    found = cells(text)
    assert any(FORMULA in cell for cell in found), "the hostile name is in the file"
    assert [cell for cell in found if cell[:1] in ("=", "+", "@")] == []


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("name", ["funnel-csv", "stuck-csv", "students-csv"])
def test_dashboard_exports_are_defused(client, lead_instructor, hostile, name):
    client.force_login(lead_instructor)
    response = client.get(reverse(f"dashboard:{name}"), {"threshold": "15m"})
    assert response.status_code == 200
    if name == "funnel-csv":
        # Counts only: no student text at all.
        assert FORMULA not in body(response)
        return
    assert_defused(body(response))


def test_admin_session_export_is_defused(admin_client, hostile):
    response = admin_client.post(
        reverse("admin:workshop_workshopsession_changelist"),
        {"action": "export_csv", "_selected_action": [hostile.pk]},
    )
    assert response.status_code == 200
    assert_defused(body(response))


def test_export_progress_csv_is_defused(hostile):
    out = io.StringIO()
    call_command("export_progress", "--format", "csv", stdout=out)
    text = out.getvalue()
    assert_defused(text)
    for value in ("'+cmd", "'@SUM(1)"):
        assert value in cells(text)


def test_no_module_writes_csv_but_the_one_writer():
    root = Path(settings.BASE_DIR)
    writers = []
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or path.parts[-3:-1] == ("bench",):
            continue
        if re.search(r"\bcsv\.(writer|DictWriter)\(", path.read_text()):
            writers.append(str(path.relative_to(root)))
    assert writers == ["workshop/csv_export.py"]
