"""GET and POST /api/student-progress: shapes, lookups, permissions, errors, query budgets."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics.tests.factories import EventFactory
from progress.api import messages
from progress.models import StepProgress
from progress.tests.budgets import GET_BY_TOKEN_ON_POSTGRES, POST_ON_POSTGRES, budget
from progress.tests.factories import StepProgressFactory
from workshop.crypto import encrypt_secret
from workshop.models import Student, WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/student-progress"
TOKEN = "ws_api_token_1"
SESSION_KEYS = {
    "session_token",
    "student_id",
    "student_email",
    "student_name",
    "started_at",
    "last_activity",
    "expires_at",
    "is_active",
    "demo_mode",
    "current_step",
    "total_time_spent",
    "completion_rate",
    "use_case_description",
    "call_direction",
    "selected_phone_number",
    "tts_provider",
    "selected_voice",
    "has_openai_api_key",
    "system_prompt",
    "ivr_greeting",
    "tools",
    "voice_settings",
    "websocket_url",
    "codespace_url",
    "github_repo_url",
    "railway_url",
    "bug_reports",
    "created_at",
    "updated_at",
    "step_progress",
}


def session_with_steps(numbers=(1, 2, 3), **kwargs) -> WorkshopSession:
    session = WorkshopSessionFactory(
        openai_api_key=encrypt_secret("sk-live-secret"), tools=[{"name": "lookup"}], **kwargs
    )
    for number in reversed(numbers):
        StepProgressFactory(
            session=session,
            step_number=number,
            validation_passed=number == 1,
            time_spent=60 * number,
            attempts=number,
            code_submitted="x" * 1000,
        )
    return session


def assert_error(response, status: int, message: str, fields: dict | None = None) -> None:
    assert response.status_code == status, response.content
    assert response.json() == {"success": False, "error": message, "fields": fields or {}}


# --- GET ------------------------------------------------------------------------------------
def test_get_by_token_returns_the_session_with_ordered_steps_and_no_key(api):
    session = session_with_steps()

    response = api.get(URL, {"sessionToken": session.pk})

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    progress = body["progress"]
    assert set(progress) == SESSION_KEYS
    assert progress["session_token"] == session.pk
    assert progress["student_email"] == session.student.student_email
    assert progress["has_openai_api_key"] is True
    assert progress["tools"] == [{"name": "lookup"}]
    assert [s["stepNumber"] for s in progress["step_progress"]] == [1, 2, 3]
    assert progress["step_progress"][0] == {
        "stepNumber": 1,
        "stepName": "Setup",
        "completed": True,
        "startedAt": progress["step_progress"][0]["startedAt"],
        "completedAt": None,
        "timeSpent": 60,
        "attempts": 1,
        "deploymentUrl": None,
    }
    assert b"sk-live" not in response.content
    assert "openai_api_key" not in progress


def test_get_by_token_of_session_without_steps_has_empty_list(api):
    session = WorkshopSessionFactory()

    response = api.get(URL, {"sessionToken": session.pk})

    assert response.json()["progress"]["step_progress"] == []


def test_get_unknown_token_is_404(api):
    assert_error(api.get(URL, {"sessionToken": "ws_unknown_1"}), 404, messages.SESSION_NOT_FOUND)


def test_get_by_student_id_lists_sessions_without_tokens(api):
    first = session_with_steps()
    second = session_with_steps(student=first.student, numbers=(4,))

    response = api.get(URL, {"studentId": str(first.student_id)})

    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert len(sessions) == 2
    assert all("session_token" not in s for s in sessions)
    assert first.pk.encode() not in response.content
    assert second.pk.encode() not in response.content
    assert sorted(len(s["step_progress"]) for s in sessions) == [1, 3]


def test_get_by_student_id_of_student_without_sessions_is_empty_list(api):
    student = StudentFactory()

    response = api.get(URL, {"studentId": str(student.pk)})

    assert response.json() == {"success": True, "sessions": []}


def test_get_by_unknown_student_id_is_404(api):
    response = api.get(URL, {"studentId": "7d0f4b0e-9a55-4e3f-8f59-1c5a3d0c2b11"})

    assert_error(response, 404, messages.STUDENT_NOT_FOUND)


def test_get_by_email_needs_authentication(api):
    StudentFactory(student_email="ada@example.com")

    response = api.get(URL, {"studentEmail": "ada@example.com"})

    assert_error(response, 401, messages.AUTHENTICATION_REQUIRED)
    assert response["WWW-Authenticate"] == "Token"


def test_get_by_email_refuses_non_staff(api, django_user_model):
    user = django_user_model.objects.create_user(username="student", password="pw")
    api.force_login(user)

    assert_error(api.get(URL, {"studentEmail": "a@example.com"}), 403, messages.INSTRUCTORS_ONLY)


def test_instructor_gets_sessions_by_email_with_tokens(staff_api):
    session = session_with_steps(student=StudentFactory(student_email="ada@example.com"))

    response = staff_api.get(URL, {"studentEmail": " ADA@example.com "})

    assert response.status_code == 200
    assert [s["session_token"] for s in response.json()["sessions"]] == [session.pk]


def test_instructor_may_use_a_drf_token(api, instructor):
    StudentFactory(student_email="ada@example.com")
    token = Token.objects.create(user=instructor)

    response = api.get(
        URL, {"studentEmail": "ada@example.com"}, HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert response.json() == {"success": True, "sessions": []}


def test_unknown_email_is_404_for_instructors(staff_api):
    assert_error(
        staff_api.get(URL, {"studentEmail": "nobody@example.com"}),
        404,
        messages.STUDENT_NOT_FOUND,
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"studentId": "not-a-uuid"}, "studentId"),
        ({"studentEmail": "not-an-email"}, "studentEmail"),
        ({"sessionToken": "short"}, "sessionToken"),
        ({"sessionToken": "bad token with spaces"}, "sessionToken"),
    ],
)
def test_get_with_malformed_parameter_names_it(api, params, field):
    response = api.get(URL, params)

    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith(f"Invalid {field}:")
    assert list(body["fields"]) == [field]


@pytest.mark.parametrize(
    "params",
    [{}, {"sessionToken": "ws_abcdefgh", "studentId": "7d0f4b0e-9a55-4e3f-8f59-1c5a3d0c2b11"}],
)
def test_get_needs_exactly_one_parameter(api, params):
    assert_error(
        api.get(URL, params),
        400,
        messages.INVALID_INPUT.format(detail=messages.ONE_LOOKUP_PARAMETER),
        {"non_field_errors": [messages.ONE_LOOKUP_PARAMETER]},
    )


def test_anonymous_student_shows_no_placeholder_email(api):
    api.post(URL, {"sessionToken": TOKEN}, format="json")

    progress = api.get(URL, {"sessionToken": TOKEN}).json()["progress"]

    assert progress["student_email"] is None


# --- POST -----------------------------------------------------------------------------------
def test_post_upserts_and_answers_with_the_spec_shape(post_progress):
    response = post_progress(
        sessionToken=TOKEN,
        studentEmail="ada@example.com",
        studentName="Ada",
        stepNumber=3,
        stepName="Services",
        completed=True,
        timeSpent=450,
        codeSubmitted="print('hi')",
        deploymentUrl="https://ada.example/app",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["message"]) == (True, messages.PROGRESS_UPDATED)
    progress = body["progress"]
    assert set(progress) == SESSION_KEYS
    assert (progress["current_step"], progress["completion_rate"]) == (3, 11)
    assert progress["total_time_spent"] == 450
    assert progress["step_progress"][0]["deploymentUrl"] == "https://ada.example/app"
    assert StepProgress.objects.get().code_submitted == "print('hi')"


def test_post_without_step_only_registers_the_session(post_progress):
    response = post_progress(sessionToken=TOKEN, studentEmail="ada@example.com")

    assert response.status_code == 200
    assert response.json()["progress"]["step_progress"] == []
    assert WorkshopSession.objects.get().student.student_email == "ada@example.com"


def test_post_token_of_another_student_is_409(post_progress):
    session = WorkshopSessionFactory(student=StudentFactory(student_email="owner@example.com"))

    response = post_progress(
        sessionToken=session.pk, studentEmail="other@example.com", stepNumber=1
    )

    assert_error(response, 409, messages.SESSION_BELONGS_TO_ANOTHER_STUDENT)
    assert not StepProgress.objects.exists()
    assert not Student.objects.filter(student_email="other@example.com").exists()


def test_post_to_expired_session_is_410(post_progress):
    session = WorkshopSessionFactory(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert_error(post_progress(sessionToken=session.pk, stepNumber=1), 410, messages.SESSION_CLOSED)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stepNumber": 0}, "stepNumber"),
        ({"stepNumber": 10}, "stepNumber"),
        ({"stepNumber": "3"}, "stepNumber"),
        ({"stepNumber": 2.5}, "stepNumber"),
        ({"stepNumber": True}, "stepNumber"),
        ({"stepNumber": 1, "timeSpent": -1}, "timeSpent"),
        ({"stepNumber": 1, "timeSpent": 86_401}, "timeSpent"),
        ({"stepNumber": 1, "completed": 1}, "completed"),
        ({"stepNumber": 1, "codeSubmitted": "x" * (100 * 1024 + 1)}, "codeSubmitted"),
        ({"stepNumber": 1, "codeSubmitted": "é" * 60_000}, "codeSubmitted"),
        ({"stepNumber": 1, "codeSubmitted": 42}, "codeSubmitted"),
        ({"stepNumber": 1, "deploymentUrl": "ftp://files.example"}, "deploymentUrl"),
        ({"stepNumber": 1, "deploymentUrl": "javascript:alert(1)"}, "deploymentUrl"),
        ({"stepNumber": 1, "stepName": "a\x00b"}, "stepName"),
        ({"studentEmail": "nope"}, "studentEmail"),
        ({"studentEmail": "anonymous+x@Anonymous.invalid"}, "studentEmail"),
        ({"timeSpent": 5}, "stepNumber"),
        ({"demoMode": "true"}, "demoMode"),
    ],
)
def test_post_bad_field_is_400_naming_it_and_changes_nothing(post_progress, body, field):
    response = post_progress(sessionToken=TOKEN, **body)

    assert response.status_code == 400
    error = response.json()
    assert error["success"] is False
    assert error["error"].startswith(f"Invalid {field}:")
    assert list(error["fields"]) == [field]
    assert not WorkshopSession.objects.exists()


def test_post_text_with_lone_surrogate_is_400(api):
    response = api.post(
        URL,
        '{"sessionToken": "ws_abcdefgh", "stepNumber": 1, "stepName": "\\ud800"}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["stepName"]


@pytest.mark.parametrize("token", [None, "", "short", "has space in it", "x" * 129, 12345678])
def test_post_needs_a_well_formed_token(post_progress, token):
    body = {} if token is None else {"sessionToken": token}

    response = post_progress(**body)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["sessionToken"]


def test_post_accepts_code_of_exactly_100_kb(post_progress):
    response = post_progress(sessionToken=TOKEN, stepNumber=1, codeSubmitted="x" * 100 * 1024)

    assert response.status_code == 200


def test_post_ignores_unknown_fields(post_progress):
    response = post_progress(sessionToken=TOKEN, stepNumber=1, somethingElse={"a": 1})

    assert response.status_code == 200


# --- Query budgets --------------------------------------------------------------------------
def test_get_by_token_runs_at_most_2_queries_whatever_the_steps(api, django_assert_max_num_queries):
    session = session_with_steps(numbers=range(1, 10))
    EventFactory.create_batch(5, session=session)

    # 2: the session joined with its student, then its steps; on PostgreSQL the reply
    # function, 1. The reply is checked inside the block, so a wrong reply fails before the
    # count does.
    with django_assert_max_num_queries(budget(postgres=GET_BY_TOKEN_ON_POSTGRES, sqlite=2)):
        response = api.get(URL, {"sessionToken": session.pk})
        assert response.status_code == 200
        progress = response.json()["progress"]
        assert progress["session_token"] == session.pk
        assert [s["stepNumber"] for s in progress["step_progress"]] == list(range(1, 10))


def test_get_by_student_id_runs_at_most_2_queries_whatever_the_sessions(
    api, django_assert_max_num_queries
):
    first = session_with_steps(numbers=range(1, 10))
    for _ in range(5):
        session_with_steps(student=first.student, numbers=range(1, 10))

    # 2: the sessions joined with their student, then all their steps.
    with django_assert_max_num_queries(2):
        response = api.get(URL, {"studentId": str(first.student_id)})
        assert response.status_code == 200
        sessions = response.json()["sessions"]
        assert len(sessions) == 6
        assert all(len(s["step_progress"]) == 9 for s in sessions)


def test_get_by_email_runs_at_most_4_queries(staff_api, django_assert_max_num_queries):
    student = StudentFactory(student_email="ada@example.com")
    for _ in range(5):
        session_with_steps(student=student, numbers=range(1, 10))

    # 4: the login session and its user, the sessions with their student, their steps.
    with django_assert_max_num_queries(4):
        response = staff_api.get(URL, {"studentEmail": "ada@example.com"})
        assert response.status_code == 200
        sessions = response.json()["sessions"]
        assert len(sessions) == 5
        assert {s["student_email"] for s in sessions} == {"ada@example.com"}


def test_get_by_email_of_student_without_sessions_runs_at_most_4_queries(
    staff_api, django_assert_max_num_queries
):
    StudentFactory(student_email="ada@example.com")

    # 4: the login session and its user, the (empty) sessions, the student's existence.
    with django_assert_max_num_queries(4):
        response = staff_api.get(URL, {"studentEmail": "ada@example.com"})
        assert response.status_code == 200
        assert response.json()["sessions"] == []


@pytest.mark.parametrize("existing_steps", [0, 9])
def test_post_update_runs_at_most_10_queries(
    post_progress, django_assert_max_num_queries, existing_steps
):
    session = session_with_steps(numbers=range(1, existing_steps + 1))
    EventFactory.create_batch(5, session=session)

    # 10 on SQLite: the transaction's savepoint and its release (BEGIN/COMMIT outside a
    # test), session lock, step read + write, the totals and activity in one update, one
    # events insert, one outbox insert (step_completed), the reply (2). On PostgreSQL the
    # function (tests/budgets.py). A name sent again renames nobody (an email is a claim,
    # not a proof).
    name = session.student.student_name
    with django_assert_max_num_queries(budget(postgres=POST_ON_POSTGRES, sqlite=10)):
        response = post_progress(
            sessionToken=session.pk,
            studentEmail=session.student.student_email,
            studentName="Renamed",
            stepNumber=9,
            completed=True,
            timeSpent=10,
            deploymentUrl="https://x.example",
        )
        assert response.status_code == 200
        progress = response.json()["progress"]
        assert progress["step_progress"][-1]["stepNumber"] == 9
    assert Student.objects.get(pk=session.student_id).student_name == name


def test_post_creating_everything_runs_at_most_14_queries(
    post_progress, django_assert_max_num_queries
):
    # 14 on SQLite: the transaction's savepoint and release, session lock miss, student
    # insert, the session insert in its own savepoint (3), the session-created-the-student
    # record, step insert, the totals and activity in one update, events, the outbox
    # (step_completed), the reply (2). On PostgreSQL the function (tests/budgets.py).
    with django_assert_max_num_queries(budget(postgres=POST_ON_POSTGRES, sqlite=14)):
        response = post_progress(
            sessionToken=TOKEN, studentEmail="new@example.com", stepNumber=1, completed=True
        )
        assert response.status_code == 200
        assert response.json()["progress"]["completion_rate"] == 11


@pytest.mark.parametrize("step_number", [1, 2], ids=["existing-step", "new-step"])
def test_post_claiming_for_an_existing_student_runs_at_most_16_queries(
    post_progress, django_assert_max_num_queries, step_number
):
    StudentFactory(student_email="grace@example.com")
    post_progress(sessionToken=TOKEN, stepNumber=1)

    # The worst case on SQLite: a claim (the student insert that finds it exists and its
    # read, moving session, steps and events, the anonymous student's removal: 6) plus a
    # completing step update (10 as above, the outbox row included), 16. On PostgreSQL the
    # function (tests/budgets.py).
    with django_assert_max_num_queries(budget(postgres=POST_ON_POSTGRES, sqlite=16)):
        response = post_progress(
            sessionToken=TOKEN,
            studentEmail="grace@example.com",
            stepNumber=step_number,
            completed=True,
        )
        assert response.status_code == 200
        assert response.json()["progress"]["student_email"] == "grace@example.com"
