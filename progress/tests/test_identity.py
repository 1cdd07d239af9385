"""The identity model (docs/api.md): an email is a claim, not a proof (issue 11).

An unauthenticated caller never renames an existing student, never learns the id of a
student other than its own session's, and what it attaches to a student by email cannot
change what that student's other sessions show. The share link (?studentId=) is public and
shows progress only.
"""

import pytest

from progress.models import StudentCreator
from progress.tests.factories import StepProgressFactory
from workshop.crypto import encrypt_secret
from workshop.models import Student
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

SECRET_VALUES = [
    "victim@example.com",
    "+14155550123",
    "You are Ada's private assistant",
    "https://github.com/ada/secret-repo",
    "https://ada.up.railway.app",
    "audio drops",
    "Lovelace",
]


@pytest.fixture
def victim():
    student = StudentFactory(student_email="victim@example.com", student_name="Ada Lovelace")
    session = WorkshopSessionFactory(
        student=student,
        selected_phone_number="+14155550123",
        system_prompt="You are Ada's private assistant",
        github_repo_url="https://github.com/ada/secret-repo",
        railway_url="https://ada.up.railway.app",
        openai_api_key=encrypt_secret("sk-ada"),
        bug_reports=[{"description": "audio drops"}],
    )
    # The victim's session created the victim, as POST /api/sessions records it.
    StudentCreator.objects.create(student=student, session=session)
    StepProgressFactory(
        session=session,
        step_number=1,
        validation_passed=True,
        deployment_url="https://ada.up.railway.app",
    )
    return session


def test_creating_a_session_with_someone_elses_email_hides_their_id_and_keeps_their_name(
    api, victim
):
    response = api.post(
        "/api/sessions",
        {"studentEmail": "victim@example.com", "studentName": "Mallory"},
        format="json",
    )

    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["studentId"] is None
    assert str(victim.student_id) not in response.content.decode()
    assert Student.objects.get(pk=victim.student_id).student_name == "Ada Lovelace"
    # The session's own reply shows no other session's data and not the victim's name.
    own = api.get("/api/student-progress", {"sessionToken": reply["sessionToken"]})
    assert own.status_code == 200
    body = own.content.decode()
    assert str(victim.student_id) not in body
    assert own.json()["progress"]["student_id"] is None
    for value in SECRET_VALUES[2:]:
        assert value not in body


def test_a_new_email_gets_its_own_id_back(api):
    response = api.post(
        "/api/sessions", {"studentEmail": "new@example.com", "studentName": "Nia"}, format="json"
    )

    student = Student.objects.get(student_email="new@example.com")
    assert response.json()["studentId"] == str(student.student_id)
    assert student.student_name == "Nia"
    own = api.get("/api/student-progress", {"sessionToken": response.json()["sessionToken"]})
    assert own.json()["progress"]["student_id"] == str(student.student_id)


def test_a_progress_post_never_renames_an_existing_student(post_progress, victim):
    # Through a session of one's own, claimed with the victim's email...
    other = post_progress(
        sessionToken="ws_mallory_session_1",
        studentEmail="victim@example.com",
        studentName="Mallory",
        stepNumber=1,
    )
    assert other.status_code == 200, other.content
    assert other.json()["progress"]["student_id"] is None
    # ...and through the victim's own session, as the token holder.
    own = post_progress(
        sessionToken=victim.pk, studentEmail="victim@example.com", studentName="Renamed"
    )
    assert own.status_code == 200
    assert Student.objects.get(pk=victim.student_id).student_name == "Ada Lovelace"


def test_claiming_an_anonymous_session_with_an_existing_email_hides_the_id(post_progress, victim):
    post_progress(sessionToken="ws_anonymous_first", stepNumber=1)

    reply = post_progress(sessionToken="ws_anonymous_first", studentEmail="victim@example.com")

    assert reply.status_code == 200
    assert reply.json()["progress"]["student_id"] is None
    assert str(victim.student_id) not in reply.content.decode()


def test_attaching_by_email_does_not_change_the_students_other_sessions(api, victim):
    before = api.get("/api/student-progress", {"sessionToken": victim.pk}).json()["progress"]

    api.post(
        "/api/sessions",
        {"studentEmail": "victim@example.com", "studentName": "Mallory"},
        format="json",
    )

    after = api.get("/api/student-progress", {"sessionToken": victim.pk}).json()["progress"]
    assert after == before
    assert after["student_id"] == str(victim.student_id)


def test_the_share_link_shows_progress_only(api, victim):
    response = api.get("/api/student-progress", {"studentId": str(victim.student_id)})

    assert response.status_code == 200
    body = response.content.decode()
    for value in [*SECRET_VALUES, victim.pk, "sk-ada"]:
        assert value not in body, value
    (session,) = response.json()["sessions"]
    assert session == {
        "display_name": "Ada L.",
        "started_at": session["started_at"],
        "last_activity": session["last_activity"],
        "is_active": True,
        "current_step": victim.current_step,
        "completion_rate": victim.completion_rate,
        "total_time_spent": victim.total_time_spent,
        "step_progress": [
            {
                "stepNumber": 1,
                "stepName": session["step_progress"][0]["stepName"],
                "completed": True,
                "startedAt": session["step_progress"][0]["startedAt"],
                "completedAt": session["step_progress"][0]["completedAt"],
                "timeSpent": session["step_progress"][0]["timeSpent"],
            }
        ],
    }


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ada Lovelace", "Ada L."),
        ("Ada", "Ada"),
        ("  Grace  Brewster Hopper ", "Grace H."),
        ("ada@example.com", None),
        ("", None),
        (None, None),
    ],
)
def test_share_link_display_names(api, name, shown):
    student = StudentFactory(student_name=name)
    WorkshopSessionFactory(student=student)

    (session,) = api.get("/api/student-progress", {"studentId": str(student.student_id)}).json()[
        "sessions"
    ]

    assert session["display_name"] == shown


def test_students_from_before_keep_their_first_sessions_id(api):
    """Migration progress 0005: a student's first session counts as their creator."""
    import datetime as dt
    import importlib

    from django.db import connection
    from django.utils import timezone

    backfill_sql = importlib.import_module(
        "progress.migrations.0005_backfill_student_creators"
    ).BACKFILL_SQL
    student = StudentFactory(student_email="old@example.com")
    first = WorkshopSessionFactory(
        student=student, created_at=timezone.now() - dt.timedelta(days=2)
    )
    later = WorkshopSessionFactory(student=student, created_at=timezone.now())

    with connection.cursor() as cursor:
        cursor.execute(backfill_sql, [])

    def shown(session):
        reply = api.get("/api/student-progress", {"sessionToken": session.pk}).json()
        return reply["progress"]["student_id"]

    assert shown(first) == str(student.student_id)
    assert shown(later) is None


def test_only_the_creating_session_may_fill_a_missing_name(post_progress, api):
    created = api.post("/api/sessions", {"studentEmail": "nameless@example.com"}, format="json")
    own_token = created.json()["sessionToken"]
    other = api.post("/api/sessions", {"studentEmail": "nameless@example.com"}, format="json")

    post_progress(
        sessionToken=other.json()["sessionToken"],
        studentEmail="nameless@example.com",
        studentName="Mallory",
    )
    assert Student.objects.get(student_email="nameless@example.com").student_name is None

    post_progress(sessionToken=own_token, studentEmail="nameless@example.com", studentName="Nia")
    post_progress(sessionToken=own_token, studentEmail="nameless@example.com", studentName="Zed")
    assert Student.objects.get(student_email="nameless@example.com").student_name == "Nia"
