"""student_data: access, erasure and anonymization requests, by command and in the admin."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from analytics.models import Event
from analytics.tests.factories import EventFactory
from progress.models import StepProgress
from progress.tests.factories import StepProgressFactory
from workshop.crypto import encrypt_secret
from workshop.models import Student, WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("student_data", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def ann():
    student = StudentFactory(
        student_email="ann@example.org", student_name="Ann Smith", github_username="annsmith"
    )
    session = WorkshopSessionFactory(
        student=student,
        session_token="ws_ann",
        openai_api_key=encrypt_secret("sk-secret"),
        system_prompt="You are Ann's bot",
        github_repo_url="https://github.com/annsmith/x",
        bug_reports=[{"text": "my phone 555-0100 broke"}],
        completion_rate=22,
        total_time_spent=90,
        current_step=2,
    )
    StepProgressFactory(
        session=session,
        step_number=1,
        validation_passed=True,
        time_spent=60,
        code_submitted="print('ann')",
        deployment_url="https://ann.example.org",
    )
    StepProgressFactory(session=session, step_number=2, validation_passed=True, time_spent=30)
    EventFactory(session=session, event_data={"stepNumber": 1, "codeSubmitted": "print('ann')"})
    other = WorkshopSessionFactory()
    StepProgressFactory(session=other)
    EventFactory(session=other)
    return student


def test_export_is_everything_about_the_student_without_secrets(ann):
    out = run("export", "--email", " ANN@example.org ")

    document = json.loads(out)
    assert document["student"]["student_email"] == "ann@example.org"
    (session,) = document["sessions"]
    assert session["session_token"] == "ws_ann"
    assert session["has_openai_api_key"] is True
    assert "openai_api_key" not in session
    assert [s["step_number"] for s in session["steps"]] == [1, 2]
    assert session["steps"][0]["code_submitted"] == "print('ann')"
    assert len(document["events"]) == 1
    assert "sk-secret" not in out


def test_erase_deletes_the_student_and_everything_under_it(ann):
    out = run("erase", "--email", "ann@example.org")

    assert not Student.objects.filter(student_email="ann@example.org").exists()
    assert not WorkshopSession.objects.filter(pk="ws_ann").exists()
    assert StepProgress.objects.count() == 1
    assert Event.objects.count() == 1
    assert "Deleted:" in out


def test_anonymize_keeps_numbers_and_strips_personal_data(ann):
    run("erase", "--email", "ann@example.org", "--anonymize")

    ann.refresh_from_db()
    assert ann.is_anonymous
    assert (ann.student_name, ann.github_username) == (None, None)
    session = WorkshopSession.objects.get(pk="ws_ann")
    assert (session.completion_rate, session.total_time_spent, session.current_step) == (22, 90, 2)
    assert (session.openai_api_key, session.system_prompt, session.github_repo_url) == (
        None,
        None,
        None,
    )
    assert session.bug_reports == [{"redacted": True}]
    steps = list(
        session.steps.values_list(
            "step_number", "time_spent", "validation_passed", "code_submitted", "deployment_url"
        )
    )
    assert steps == [(1, 60, True, None, None), (2, 30, True, None, None)]
    assert Event.objects.get(session=session).event_data == {"stepNumber": 1}
    exported = run("export", "--email", ann.student_email)
    for personal in (
        "ann@example.org",
        "Ann Smith",
        "annsmith",
        "print('ann')",
        "555-0100",
        "You are Ann",
        "https://ann.example.org",
    ):
        assert personal not in exported


def test_dry_run_erases_nothing(ann):
    out = run("erase", "--email", "ann@example.org", "--dry-run")

    assert "would delete the student and 1 sessions" in out
    assert Student.objects.filter(pk=ann.pk).exists()


def test_unknown_email_is_an_error():
    with pytest.raises(CommandError, match="no student"):
        run("export", "--email", "nobody@example.org")


@pytest.fixture
def admin_client_for(client, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    return client


def test_admin_export_action_downloads_json(ann, admin_client_for):
    response = admin_client_for.post(
        reverse("admin:workshop_student_changelist"),
        {"action": "export_student_data", "_selected_action": [ann.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="student-data.json"'
    (document,) = json.loads(response.content)
    assert document["student"]["student_email"] == "ann@example.org"
    assert b"sk-secret" not in response.content


def test_admin_erase_and_anonymize_actions(ann, admin_client_for):
    bob = StudentFactory(student_email="bob@example.org")
    url = reverse("admin:workshop_student_changelist")

    for action, student in (("anonymize_student_data", ann), ("erase_student_data", bob)):
        # First a page of its own asking to confirm; nothing changes yet.
        asked = admin_client_for.post(url, {"action": action, "_selected_action": [student.pk]})
        assert asked.status_code == 200
        assert 'value="Yes, I\'m sure"' in asked.content.decode()
        assert "This cannot be undone." in asked.content.decode()
        assert Student.objects.get(pk=student.pk).student_email == student.student_email
        confirmed = admin_client_for.post(
            url, {"action": action, "_selected_action": [student.pk], "confirm": "yes"}
        )
        assert confirmed.status_code == 302

    ann.refresh_from_db()
    assert ann.is_anonymous
    assert not Student.objects.filter(pk=bob.pk).exists()


def test_export_query_count_does_not_grow_with_sessions(ann, django_assert_max_num_queries):
    for _ in range(5):
        StepProgressFactory(session=WorkshopSessionFactory(student=ann), step_number=4)
    # The student, then its sessions, its steps and its events: one query each.
    with django_assert_max_num_queries(4):
        document = json.loads(run("export", "--email", "ann@example.org"))
        assert len(document["sessions"]) == 6
