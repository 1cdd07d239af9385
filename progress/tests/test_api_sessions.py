"""POST /api/sessions, PATCH /api/sessions/<token>, bug reports and deployments."""

import datetime as dt
import logging
import re

import pytest
from django.utils import timezone

from analytics.models import Event, EventType
from progress.api import messages
from progress.api.serializers import SessionConfigurationSerializer, session_body
from progress.models import StepProgress
from workshop.crypto import decrypt_secret, encrypt_secret
from workshop.models import Student, WorkshopSession
from workshop.session_config import SESSION_CONFIG
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, message: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["success"], body["error"]) == (False, message)


# --- POST /api/sessions ---------------------------------------------------------------------
def test_create_session_makes_a_server_token_for_the_student(api):
    response = api.post(
        "/api/sessions",
        {"studentEmail": "Ada@Example.com", "studentName": "Ada", "demoMode": True},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"success", "sessionToken", "studentId", "expiresAt"}
    assert re.fullmatch(r"ws_[A-Za-z0-9_-]{43}", body["sessionToken"])
    session = WorkshopSession.objects.get(pk=body["sessionToken"])
    assert (session.student.student_email, session.student.student_name) == (
        "ada@example.com",
        "Ada",
    )
    assert str(session.student_id) == body["studentId"]
    assert session.demo_mode is True
    expires = dt.datetime.fromisoformat(body["expiresAt"])
    assert dt.timedelta(hours=23) < expires - timezone.now() <= dt.timedelta(hours=24)
    assert Event.objects.get().event_type == EventType.SESSION_CREATED


def test_create_session_without_email_is_anonymous_and_tokens_differ(api):
    first = api.post("/api/sessions", {}, format="json").json()
    second = api.post("/api/sessions", format="json").json()

    assert first["sessionToken"] != second["sessionToken"]
    assert first["studentId"] != second["studentId"]
    assert Student.objects.anonymous().count() == 2


def test_create_session_for_known_email_reuses_the_student(api):
    student = StudentFactory(student_email="ada@example.com")

    body = api.post("/api/sessions", {"studentEmail": "ADA@example.com"}, format="json").json()

    assert body["studentId"] == str(student.pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"studentEmail": "x"}, "studentEmail"), ({"demoMode": 1}, "demoMode")],
)
def test_create_session_bad_input_is_400(api, body, field):
    response = api.post("/api/sessions", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert not WorkshopSession.objects.exists()


# --- PATCH /api/sessions/<token> ------------------------------------------------------------
FULL_CONFIGURATION = {
    "useCaseDescription": "Dentist appointments",
    "callDirection": "inbound",
    "selectedPhoneNumber": "+14155550123",
    "ttsProvider": "ElevenLabs",
    "selectedVoice": "Rachel",
    "systemPrompt": "You are a helpful receptionist.",
    "ivrGreeting": "Hello!",
    "tools": [{"name": "book", "parameters": {"type": "object"}}],
    "voiceSettings": {"speed": 1.1},
    "websocketUrl": "wss://ws.example/relay",
    "codespaceUrl": "https://codespace.example",
    "githubRepoUrl": "https://github.com/ada/voice",
    "railwayUrl": "https://ada.up.railway.app",
    "demoMode": True,
}


def test_patch_writes_every_configuration_field(api):
    session = WorkshopSessionFactory()

    response = api.patch(f"/api/sessions/{session.pk}", FULL_CONFIGURATION, format="json")

    assert response.status_code == 200
    progress = response.json()["progress"]
    assert progress["session_token"] == session.pk
    assert progress["use_case_description"] == "Dentist appointments"
    assert progress["tools"] == FULL_CONFIGURATION["tools"]
    assert progress["voice_settings"] == {"speed": 1.1}
    assert progress["websocket_url"] == "wss://ws.example/relay"
    assert progress["demo_mode"] is True
    session.refresh_from_db()
    assert session.selected_phone_number == "+14155550123"


def test_patch_changes_only_the_fields_sent(api):
    session = WorkshopSessionFactory(system_prompt="keep me", ivr_greeting="old")

    api.patch(f"/api/sessions/{session.pk}", {"ivrGreeting": "new"}, format="json")

    session.refresh_from_db()
    assert (session.system_prompt, session.ivr_greeting) == ("keep me", "new")


def test_openai_key_is_stored_encrypted_never_returned_and_never_logged(api, caplog):
    session = WorkshopSessionFactory()
    caplog.set_level(logging.DEBUG)

    response = api.patch(
        f"/api/sessions/{session.pk}", {"openaiApiKey": "sk-proj-SECRET123"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["progress"]["has_openai_api_key"] is True
    assert b"sk-proj-SECRET123" not in response.content
    session.refresh_from_db()
    assert "SECRET123" not in session.openai_api_key
    assert decrypt_secret(session.openai_api_key) == "sk-proj-SECRET123"
    assert "SECRET123" not in caplog.text


def test_openai_key_null_clears_it(api):
    session = WorkshopSessionFactory(openai_api_key=encrypt_secret("sk-old"))

    response = api.patch(f"/api/sessions/{session.pk}", {"openaiApiKey": None}, format="json")

    assert response.json()["progress"]["has_openai_api_key"] is False
    session.refresh_from_db()
    assert session.openai_api_key is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"callDirection": "sideways"}, "callDirection"),
        ({"selectedPhoneNumber": "555-0123"}, "selectedPhoneNumber"),
        ({"systemPrompt": "x" * 20_001}, "systemPrompt"),
        ({"tools": {"name": "x"}}, "tools"),
        ({"tools": ["not an object"]}, "tools.0"),
        ({"voiceSettings": [1]}, "voiceSettings"),
        ({"voiceSettings": {"a": "\x00"}}, "voiceSettings"),
        ({"railwayUrl": "ftp://x.example"}, "railwayUrl"),
        ({"websocketUrl": "not a url"}, "websocketUrl"),
        ({"openaiApiKey": ""}, "openaiApiKey"),
        ({"demoMode": "false"}, "demoMode"),
    ],
)
def test_patch_bad_field_is_400_naming_it_and_changes_nothing(api, body, field):
    session = WorkshopSessionFactory(system_prompt="before")

    response = api.patch(f"/api/sessions/{session.pk}", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    session.refresh_from_db()
    assert session.system_prompt == "before"


def test_patch_accepts_a_system_prompt_of_20000_characters(api):
    session = WorkshopSessionFactory()

    response = api.patch(
        f"/api/sessions/{session.pk}", {"systemPrompt": "x" * 20_000}, format="json"
    )

    assert response.status_code == 200


def test_patch_with_no_configuration_field_is_400(api):
    session = WorkshopSessionFactory()

    response = api.patch(f"/api/sessions/{session.pk}", {"unknown": 1}, format="json")

    assert_error(
        response, 400, messages.INVALID_INPUT.format(detail=messages.NO_CONFIGURATION_FIELDS)
    )


def test_patch_unknown_token_is_404(api):
    response = api.patch("/api/sessions/ws_unknown_token", {"ivrGreeting": "x"}, format="json")

    assert_error(response, 404, messages.SESSION_NOT_FOUND)


@pytest.mark.parametrize("token", ["bad!token", "x", "y" * 129])
@pytest.mark.parametrize("path", ["", "/bug-reports", "/deployments"])
def test_malformed_token_in_path_is_404_whatever_the_body(api, token, path):
    response = api.generic(
        "PATCH" if not path else "POST",
        f"/api/sessions/{token}{path}",
        '{"ivrGreeting": 1}',
        content_type="application/json",
    )

    assert_error(response, 404, messages.SESSION_NOT_FOUND)


def test_patch_inactive_session_is_410(api):
    session = WorkshopSessionFactory(is_active=False)

    response = api.patch(f"/api/sessions/{session.pk}", {"ivrGreeting": "x"}, format="json")

    assert_error(response, 410, messages.SESSION_CLOSED)


# --- bug reports ----------------------------------------------------------------------------
def test_bug_report_is_appended_and_answered_201(api):
    session = WorkshopSessionFactory()

    response = api.post(
        f"/api/sessions/{session.pk}/bug-reports",
        {
            "description": "The call drops",
            "step": 5,
            "errorMessage": "1006",
            "pageUrl": "https://workshop.example/step5",
            "browserInfo": "Firefox",
        },
        format="json",
    )

    assert response.status_code == 201
    report = response.json()["bugReport"]
    assert set(report) == {
        "id",
        "createdAt",
        "description",
        "step",
        "errorMessage",
        "pageUrl",
        "browserInfo",
    }
    session.refresh_from_db()
    assert session.bug_reports == [report]
    assert Event.objects.get().event_type == EventType.BUG_REPORTED


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "description"), ({"description": "x", "step": 12}, "step")],
)
def test_bug_report_bad_input_is_400(api, body, field):
    session = WorkshopSessionFactory()

    response = api.post(f"/api/sessions/{session.pk}/bug-reports", body, format="json")

    assert list(response.json()["fields"]) == [field]
    assert not Event.objects.exists()


def test_bug_report_on_unknown_session_is_404(api):
    response = api.post(
        "/api/sessions/ws_nobody_1/bug-reports", {"description": "x"}, format="json"
    )

    assert_error(response, 404, messages.SESSION_NOT_FOUND)


# --- deployments ----------------------------------------------------------------------------
def test_successful_deployment_records_url_and_event(api):
    session = WorkshopSessionFactory()

    response = api.post(
        f"/api/sessions/{session.pk}/deployments",
        {"stepNumber": 9, "url": "https://ada.up.railway.app", "success": True},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["eventType"] == "deployment_success"
    assert body["progress"]["step_progress"][0]["deploymentUrl"] == "https://ada.up.railway.app"
    assert StepProgress.objects.get().deployment_url == "https://ada.up.railway.app"


def test_failed_deployment_records_only_the_event(api):
    session = WorkshopSessionFactory()

    response = api.post(
        f"/api/sessions/{session.pk}/deployments",
        {"stepNumber": 4, "url": "https://x.example", "success": False, "error": "502"},
        format="json",
    )

    assert response.json()["eventType"] == "deployment_failure"
    assert not StepProgress.objects.exists()
    assert Event.objects.get().event_data == {
        "stepNumber": 4,
        "url": "https://x.example",
        "error": "502",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://x.example", "success": True}, "stepNumber"),
        ({"stepNumber": 1, "url": "nope", "success": True}, "url"),
        ({"stepNumber": 1, "url": "https://x.example"}, "success"),
    ],
)
def test_deployment_bad_input_is_400(api, body, field):
    session = WorkshopSessionFactory()

    response = api.post(f"/api/sessions/{session.pk}/deployments", body, format="json")

    assert list(response.json()["fields"]) == [field]


def test_deployment_to_expired_session_is_410(api):
    session = WorkshopSessionFactory(expires_at=timezone.now() - dt.timedelta(hours=1))

    response = api.post(
        f"/api/sessions/{session.pk}/deployments",
        {"stepNumber": 1, "url": "https://x.example", "success": True},
        format="json",
    )

    assert_error(response, 410, messages.SESSION_CLOSED)


# --- query budgets --------------------------------------------------------------------------
def test_session_writes_stay_within_15_queries(api, django_assert_max_num_queries):
    session = WorkshopSessionFactory(bug_reports=[{"id": str(n)} for n in range(50)])
    token = session.pk

    # Each: a transaction's savepoints, the lock, the write(s), an event, the reply (2). Each
    # reply is checked inside its block, so a wrong reply fails before the count does.
    with django_assert_max_num_queries(15):
        response = api.post("/api/sessions", {"studentEmail": "new@example.com"}, format="json")
        assert response.status_code == 201
        assert response.json()["success"] is True
    with django_assert_max_num_queries(15):
        response = api.patch(f"/api/sessions/{token}", FULL_CONFIGURATION, format="json")
        assert response.status_code == 200
        assert response.json()["progress"]["use_case_description"] == "Dentist appointments"
    with django_assert_max_num_queries(15):
        response = api.post(
            f"/api/sessions/{token}/bug-reports", {"description": "x"}, format="json"
        )
        assert response.status_code == 201
        assert response.json()["bugReport"]["description"] == "x"
    with django_assert_max_num_queries(15):
        response = api.post(
            f"/api/sessions/{token}/deployments",
            {"stepNumber": 2, "url": "https://x.example", "success": True},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["eventType"] == "deployment_success"


def test_patch_fields_and_reply_follow_the_configuration_table():
    assert list(SessionConfigurationSerializer().fields) == [
        *(f.api_name for f in SESSION_CONFIG),
        "demoMode",
    ]
    body = session_body(WorkshopSessionFactory())
    for field in SESSION_CONFIG:
        assert (field.column in body) is not field.is_secret, field.column
    assert body["has_openai_api_key"] is False
