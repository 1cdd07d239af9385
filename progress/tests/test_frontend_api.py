"""The real frontend's own calls, one behaviour each: its paths and reply shapes, its step
scheme, its habits (keystroke heartbeats, no time, placeholder names, long-kept tokens).

Bodies come from progress.tests.frontend_requests, shaped as the frontend sends them.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analytics.models import Event
from progress.api import messages
from progress.models import StepProgress
from progress.tests import frontend_requests as fe
from progress.tests.budgets import POST_ON_POSTGRES, budget
from progress.tests.factories import StepProgressFactory
from workshop.crypto import decrypt_secret, encrypt_secret
from workshop.models import Student, WorkshopSession
from workshop.steps import STEPS
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

TOKEN = "ws_1732870000000_frontendtoken"


def post(api, path, body, status=200):
    response = api.post(path, body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def step_row(number: int) -> StepProgress:
    return StepProgress.objects.get(session_id=TOKEN, step_number=number)


def event_types() -> list[str]:
    return list(Event.objects.order_by("id").values_list("event_type", flat=True))


# --- generate-session ------------------------------------------------------------------------
def test_generate_session_answers_a_server_made_token_of_a_new_session(api):
    reply = post(api, "/api/generate-session", fe.generate_session())

    assert set(reply) == {"success", "sessionToken"}
    assert reply["success"] is True
    assert reply["sessionToken"].startswith("ws_")
    assert len(reply["sessionToken"]) == 46
    session = WorkshopSession.objects.select_related("student").get()
    assert (session.pk, session.student.is_anonymous) == (reply["sessionToken"], True)
    assert event_types() == ["session_created"]


def test_generate_session_with_email_and_name_creates_the_student(api):
    post(api, "/api/generate-session", fe.generate_session(email="Ada@Example.com", name="Ada"))

    assert list(Student.objects.values_list("student_email", "student_name")) == [
        ("ada@example.com", "Ada")
    ]


# --- student-config-get ----------------------------------------------------------------------
def test_config_get_unknown_session_is_404(api):
    response = api.get("/api/student-config-get", {"sessionToken": TOKEN})

    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": messages.SESSION_NOT_FOUND,
        "fields": {},
    }


def test_config_get_answers_the_camelcase_config_and_never_a_secret(api):
    WorkshopSessionFactory(
        session_token=TOKEN,
        student=StudentFactory(student_name="Ada", twilio_account_sid="AC123"),
        openai_api_key=encrypt_secret(fe.FAKE_OPENAI_KEY),
        system_prompt="Be brief.",
        call_direction="inbound",
        tools=[{"name": "book"}],
        websocket_url=fe.RAILWAY_WS + TOKEN,
    )

    response = api.get("/api/student-config-get", {"sessionToken": TOKEN})

    assert response.status_code == 200
    config = response.json()["config"]
    assert set(config) == {
        "sessionToken",
        "studentName",
        "useCaseDescription",
        "callDirection",
        "selectedPhoneNumber",
        "ttsProvider",
        "selectedVoice",
        "systemPrompt",
        "ivrGreeting",
        "tools",
        "voiceSettings",
        "websocketUrl",
        "codespaceUrl",
        "githubRepoUrl",
        "railwayUrl",
        "demoMode",
        "hasOpenaiApiKey",
        "createdAt",
        "updatedAt",
    }
    assert (config["studentName"], config["systemPrompt"], config["tools"]) == (
        "Ada",
        "Be brief.",
        [{"name": "book"}],
    )
    assert (config["hasOpenaiApiKey"], config["websocketUrl"]) == (True, fe.RAILWAY_WS + TOKEN)
    assert fe.FAKE_OPENAI_KEY not in response.content.decode()
    assert "AC123" not in response.content.decode()


# --- student-config-save / update ------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "columns"),
    [
        (
            fe.config_save_initial(TOKEN, api_key=fe.FAKE_OPENAI_KEY),
            {"system_prompt": fe.INITIAL_SYSTEM_PROMPT, "tools": [], "voice_settings": {}},
        ),
        (
            fe.config_save_codespace(TOKEN),
            {"voice_settings": {"provider": "google", "voice": None}, "tools": []},
        ),
        (
            fe.config_save_prompt(TOKEN, prompt=""),
            {"system_prompt": fe.FALLBACK_SYSTEM_PROMPT},
        ),
        (
            fe.config_save_all(TOKEN),
            {
                "call_direction": "inbound",
                "selected_phone_number": "+14155550123",
                "websocket_url": fe.RAILWAY_WS + TOKEN,
                "codespace_url": fe.RAILWAY_WS + TOKEN,
                "system_prompt": None,
                "github_repo_url": None,
                "ivr_greeting": None,
            },
        ),
        (
            fe.config_save_sync(TOKEN),
            {
                "use_case_description": "Dental office receptionist booking cleanings",
                "tts_provider": "elevenlabs",
                "demo_mode": False,
                "selected_voice": None,
            },
        ),
    ],
    ids=["initial", "codespace", "prompt", "save-all", "state-sync"],
)
def test_each_config_save_body_creates_the_unseen_session_and_writes_its_columns(
    api, body, columns
):
    reply = post(api, "/api/student-config-save", body)

    assert reply == {
        "success": True,
        "message": messages.CONFIGURATION_SAVED,
        "websocketUrl": columns.get("websocket_url"),
    }
    session = WorkshopSession.objects.select_related("student").get(pk=TOKEN)
    assert {column: getattr(session, column) for column in columns} == columns
    assert session.student.is_anonymous
    # The name in a save body ("Student", "Workshop Student") is never the student's name.
    assert session.student.student_name is None
    assert event_types() == ["session_created"]


def test_config_save_keeps_what_a_body_leaves_empty_and_stores_the_key_encrypted(api):
    post(api, "/api/student-config-save", fe.config_save_initial(TOKEN, api_key=fe.FAKE_OPENAI_KEY))
    post(api, "/api/student-config-save", fe.config_save_all(TOKEN, api_key=""))

    session = WorkshopSession.objects.get(pk=TOKEN)
    assert session.system_prompt == fe.INITIAL_SYSTEM_PROMPT
    assert decrypt_secret(session.openai_api_key) == fe.FAKE_OPENAI_KEY
    assert fe.FAKE_OPENAI_KEY not in session.openai_api_key


def test_config_save_answers_the_voice_runtime_url_when_its_domain_is_set(api, settings):
    settings.VOICE_RUNTIME_DOMAIN = "voice.example.com"

    reply = post(api, "/api/student-config-save", fe.config_save_initial(TOKEN))

    assert reply["websocketUrl"] == f"wss://voice.example.com/ws/{TOKEN}"


def test_config_save_with_a_bad_field_is_400_naming_it_and_changes_nothing(api):
    body = {**fe.config_save_all(TOKEN), "callDirection": "sideways", "railwayUrl": "ftp://x"}

    reply = post(api, "/api/student-config-save", body, status=400)

    assert reply["success"] is False
    assert sorted(reply["fields"]) == ["callDirection", "railwayUrl"]
    assert not WorkshopSession.objects.exists()


def test_config_save_to_an_expired_session_is_410(api):
    WorkshopSessionFactory(session_token=TOKEN, expires_at=timezone.now() - dt.timedelta(seconds=1))

    reply = post(api, "/api/student-config-save", fe.config_save_initial(TOKEN), status=410)

    assert reply["error"] == messages.SESSION_CLOSED


def test_config_update_writes_the_panel_fields_and_ignores_credentials_and_unknown_ones(api):
    WorkshopSessionFactory(session_token=TOKEN, system_prompt="Old")

    for body in [
        fe.config_update(TOKEN, systemPrompt="New", ivrGreeting="Hi!"),
        fe.config_update(
            TOKEN,
            twilioAccountSid="AC00000000000000000000000000000000",
            twilioAuthToken="not-a-real-token",
            selectedPhoneNumber="+14155550123",
        ),
        fe.config_update(TOKEN, aiModel="gpt-4o-mini", vadMode="auto"),
    ]:
        response = api.put("/api/student-config-update", body, format="json")
        assert response.status_code == 200
        assert response.json()["success"] is True

    session = WorkshopSession.objects.select_related("student").get()
    assert (session.system_prompt, session.ivr_greeting, session.selected_phone_number) == (
        "New",
        "Hi!",
        "+14155550123",
    )
    assert session.student.twilio_account_sid is None


def test_config_update_answers_405_to_post(api):
    assert api.post("/api/student-config-update", {}, format="json").status_code == 405


# --- report-bug ------------------------------------------------------------------------------
def test_bug_report_with_a_known_token_goes_on_the_session(api):
    WorkshopSessionFactory(session_token=TOKEN)

    reply = post(
        api, "/api/report-bug", fe.report_bug(TOKEN, 4, email="ada@example.com", name="Ada")
    )

    assert reply == {"success": True, "message": messages.BUG_REPORT_RECEIVED}
    (report,) = WorkshopSession.objects.get().bug_reports
    assert {key: report[key] for key in ("step", "reporterName", "pageUrl", "callDirection")} == {
        "step": 5,
        "reporterName": "Ada",
        "pageUrl": "https://workshop.example/",
        "callDirection": "inbound",
    }
    assert "studentEmail" not in report
    assert "timestamp" not in report
    assert report["deploymentStatus"]["websocketBuilt"] is True
    event = Event.objects.get()
    assert (event.event_type, event.session_id, event.event_data["stepNumber"]) == (
        "bug_reported",
        TOKEN,
        5,
    )


@pytest.mark.parametrize("token", [None, "ws_never_seen_token"])
def test_bug_report_without_a_known_session_is_kept_as_an_event(api, token):
    reply = post(api, "/api/report-bug", fe.report_bug(token, 2))

    assert reply["success"] is True
    event = Event.objects.get()
    assert (event.event_type, event.session_id, event.student_id) == ("bug_reported", None, None)
    assert event.event_data["stepNumber"] == 3
    assert event.event_data["report"]["description"] == fe.report_bug(None, 2)["description"]


def test_bug_report_on_a_closed_session_is_kept_on_its_timeline(api):
    session = WorkshopSessionFactory(session_token=TOKEN, is_active=False)

    post(api, "/api/report-bug", fe.report_bug(TOKEN, 1))

    event = Event.objects.get()
    assert (event.session_id, event.student_id) == (TOKEN, session.student_id)
    assert WorkshopSession.objects.get().bug_reports == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"step": "Step 10: Nowhere"}, "step"),
        ({"step": "Somewhere"}, "step"),
        ({"description": ""}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"deploymentStatus": {"x": "y" * 3000}}, "deploymentStatus"),
    ],
)
def test_bad_bug_report_is_400_naming_the_field(api, change, field):
    reply = post(api, "/api/report-bug", {**fe.report_bug(None, 0), **change}, status=400)

    assert list(reply["fields"]) == [field]
    assert not Event.objects.exists()


# --- submit-feedback -------------------------------------------------------------------------
def test_feedback_is_an_event_with_its_rating_and_step(api):
    reply = post(api, "/api/submit-feedback", fe.submit_feedback(6, rating=4, name="Ada"))

    assert reply == {"success": True, "message": messages.FEEDBACK_RECEIVED}
    event = Event.objects.get()
    assert (event.event_type, event.session_id) == ("feedback_submitted", None)
    assert {key: event.event_data[key] for key in ("rating", "stepNumber", "name")} == {
        "rating": 4,
        "stepNumber": 7,
        "name": "Ada",
    }


def test_feedback_without_a_rating_keeps_the_message(api):
    post(api, "/api/submit-feedback", fe.submit_feedback(2, rating=0))

    assert Event.objects.get().event_data["rating"] is None


def test_feedback_naming_a_session_is_on_its_timeline(api):
    session = WorkshopSessionFactory(session_token=TOKEN)

    post(api, "/api/submit-feedback", {**fe.submit_feedback(2, rating=3), "sessionToken": TOKEN})

    assert Event.objects.get().student_id == session.student_id


@pytest.mark.parametrize("rating", [6, -1, "5", 4.5])
def test_feedback_with_a_bad_rating_is_400(api, rating):
    reply = post(api, "/api/submit-feedback", fe.submit_feedback(2, rating=rating), status=400)

    assert list(reply["fields"]) == ["rating"]


# --- session-log -----------------------------------------------------------------------------
def test_session_log_is_a_session_log_event_on_the_session(api):
    session = WorkshopSessionFactory(session_token=TOKEN)

    reply = post(api, "/api/session-log", fe.session_log(TOKEN, 3, "error", errorMessage="boom"))

    assert reply == {"success": True, "message": messages.EVENT_LOGGED}
    event = Event.objects.get()
    assert (event.event_type, event.session_id, event.student_id) == (
        "session_log",
        TOKEN,
        session.student_id,
    )
    assert event.event_data["logType"] == "error"
    assert event.event_data["stepNumber"] == 4
    assert event.event_data["data"]["errorMessage"] == "boom"


def test_session_log_for_an_unknown_session_is_404(api):
    post(api, "/api/session-log", fe.session_log(TOKEN, 0, "action"), status=404)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"eventType": "debug"}, "eventType"), ({"eventData": {"x": "y" * 17_000}}, "eventData")],
)
def test_bad_session_log_is_400_naming_the_field(api, change, field):
    WorkshopSessionFactory(session_token=TOKEN)

    reply = post(api, "/api/session-log", {**fe.session_log(TOKEN, 0, "action"), **change}, 400)

    assert list(reply["fields"]) == [field]


# --- get-student-ai-settings -----------------------------------------------------------------
@pytest.fixture
def voice_runtime(django_user_model):
    user = django_user_model.objects.create_user(username="voice-runtime")
    user.user_permissions.add(Permission.objects.get(codename="read_ai_settings"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_ai_settings_return_the_key_to_the_service_token_and_record_the_read(voice_runtime):
    WorkshopSessionFactory(
        session_token=TOKEN,
        openai_api_key=encrypt_secret(fe.FAKE_OPENAI_KEY),
        system_prompt="Be brief.",
        ivr_greeting="Hello!",
        selected_voice="alloy",
        tools=[{"name": "book"}],
    )

    response = voice_runtime.get("/api/get-student-ai-settings", {"sessionToken": TOKEN})

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "settings": {
            "sessionToken": TOKEN,
            "openaiApiKey": fe.FAKE_OPENAI_KEY,
            "systemPrompt": "Be brief.",
            "greeting": "Hello!",
            "voice": "alloy",
            "tools": [{"name": "book"}],
        },
        "isDefault": False,
    }
    assert response["Cache-Control"] == "no-store"
    event = Event.objects.get()
    assert (event.event_type, event.session_id, event.event_data) == (
        "ai_settings_read",
        TOKEN,
        {"reader": "voice-runtime", "keyReturned": True},
    )


def test_ai_settings_need_a_token(api, staff_api):
    WorkshopSessionFactory(session_token=TOKEN)

    # An instructor's browser login is not a service credential either.
    for client in (api, staff_api):
        response = client.get("/api/get-student-ai-settings", {"sessionToken": TOKEN})
        assert response.status_code == 401
        assert response.json()["error"] == messages.SERVICE_TOKEN_REQUIRED
    assert not Event.objects.exists()


def test_ai_settings_refuse_a_token_without_the_permission(api, instructor):
    WorkshopSessionFactory(session_token=TOKEN)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=instructor).key}")

    response = api.get("/api/get-student-ai-settings", {"sessionToken": TOKEN})

    assert response.status_code == 403
    assert response.json()["error"] == messages.AI_SETTINGS_FORBIDDEN
    assert not Event.objects.exists()


def test_ai_settings_of_an_unknown_session_are_404(voice_runtime):
    response = voice_runtime.get("/api/get-student-ai-settings", {"sessionToken": TOKEN})

    assert response.status_code == 404


# --- the step scheme -------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(9))
def test_client_titles_with_0_based_numbers_store_the_right_step(post_progress, index):
    response = post_progress(**fe.student_progress(TOKEN, index))

    assert response.status_code == 200
    row = StepProgress.objects.get()
    # Stored under the catalogue's title, whatever the client calls the step.
    assert (row.step_number, row.step_name) == (index + 1, STEPS[index].title)


@pytest.mark.parametrize(
    ("number", "name", "stored"),
    [
        (3, "Services", (3, "Services")),
        (3, "provision services", (3, "Services")),
        (9, "Deploy Your AI Application", (9, "Deploy")),
        (8, "Final Deployment", (9, "Deploy")),
        (9, "Final Deployment", (9, "Deploy")),
        (7, "step-7-ai-tools", (7, "Prompt Engineering")),
        (4, "My own title", (4, "My own title")),
        (5, None, (5, "WebSocket Handler")),
    ],
)
def test_a_known_name_decides_the_step_in_either_numbering(post_progress, number, name, stored):
    assert post_progress(sessionToken=TOKEN, stepNumber=number, stepName=name).status_code == 200

    row = StepProgress.objects.get()
    assert (row.step_number, row.step_name) == stored


@pytest.mark.parametrize(
    ("number", "name"), [(5, "Connect Accounts"), (0, "Final Deployment"), (0, "My own title")]
)
def test_a_number_fitting_the_name_in_neither_numbering_is_400(post_progress, number, name):
    response = post_progress(sessionToken=TOKEN, stepNumber=number, stepName=name)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["stepNumber"]
    assert not WorkshopSession.objects.exists()


@pytest.mark.parametrize(
    ("completed", "stored"), [("Dental office", True), ("", False), (None, False), (True, True)]
)
def test_completed_takes_the_clients_truthy_values(post_progress, completed, stored):
    post_progress(**fe.student_progress(TOKEN, 1, completed=completed))

    assert StepProgress.objects.get().validation_passed is stored


# --- heartbeats and measured time ------------------------------------------------------------
def test_a_keystroke_storm_is_one_attempt_and_moves_only_activity(post_progress):
    for _ in range(5):
        assert post_progress(**fe.student_progress(TOKEN, 2)).status_code == 200

    row = step_row(3)
    assert (row.attempts, row.validation_passed) == (1, False)
    assert event_types() == ["session_created", "step_started", "step_progress"]


def test_a_heartbeat_moves_activity_and_expiry(post_progress):
    session = WorkshopSessionFactory(
        session_token=TOKEN,
        last_activity=timezone.now() - dt.timedelta(hours=3),
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    StepProgressFactory(session=session, step_number=3, attempts=1)

    post_progress(**fe.student_progress(TOKEN, 2))

    session.refresh_from_db()
    assert timezone.now() - session.last_activity < dt.timedelta(seconds=30)
    assert session.expires_at > timezone.now() + dt.timedelta(hours=23, minutes=59)
    assert (step_row(3).attempts, Event.objects.count()) == (1, 0)


def test_the_server_measures_time_on_a_step_leaving_out_idle_gaps(post_progress, database_clock):
    post_progress(**fe.student_progress(TOKEN, 4))
    for seconds in (45, 599, 600, 30):
        database_clock.last_seen_ago(TOKEN, 5, seconds)
        post_progress(**fe.student_progress(TOKEN, 4))

    # 45 + 599 + 30: the 600-second gap reaches the 10-minute idle limit.
    assert step_row(5).time_spent == 674


def test_the_idle_limit_is_a_setting(post_progress, database_clock, settings):
    settings.PROGRESS_IDLE_LIMIT_SECONDS = 60
    post_progress(**fe.student_progress(TOKEN, 4))
    for seconds in (59, 61):
        database_clock.last_seen_ago(TOKEN, 5, seconds)
        post_progress(**fe.student_progress(TOKEN, 4))

    assert step_row(5).time_spent == 59


def test_time_since_a_request_on_another_step_is_not_measured(post_progress, database_clock):
    post_progress(**fe.student_progress(TOKEN, 3))
    post_progress(**fe.student_progress(TOKEN, 4))
    database_clock.last_seen_ago(TOKEN, 4, 120)

    post_progress(**fe.student_progress(TOKEN, 4))

    assert (step_row(4).time_spent, step_row(5).time_spent) == (0, 0)


def test_time_the_client_sends_is_added_and_not_measured_again(post_progress, database_clock):
    post_progress(**fe.student_progress(TOKEN, 4))
    database_clock.last_seen_ago(TOKEN, 5, 120)

    post_progress(**{**fe.student_progress(TOKEN, 4), "timeSpent": 30})

    row = step_row(5)
    assert (row.time_spent, row.attempts) == (30, 2)


# --- names -----------------------------------------------------------------------------------
def test_placeholder_and_email_names_never_become_or_replace_a_name(post_progress):
    post_progress(**fe.student_progress(TOKEN, 0))
    post_progress(**fe.student_progress(TOKEN, 0, email="ada@example.com"))
    assert Student.objects.get().student_name is None

    post_progress(**fe.student_progress(TOKEN, 0, email="ada@example.com", name="Ada"))
    post_progress(**fe.student_progress(TOKEN, 0, email="ada@example.com"))
    post_progress(
        **fe.student_progress(TOKEN, 0, email="ada@example.com", name="Anonymous Student")
    )

    assert list(Student.objects.values_list("student_email", "student_name")) == [
        ("ada@example.com", "Ada")
    ]


# --- sliding expiry --------------------------------------------------------------------------
def test_expiry_slides_by_the_configured_lifetime(post_progress, settings):
    settings.SESSION_LIFETIME_HOURS = 168
    WorkshopSessionFactory(session_token=TOKEN, expires_at=timezone.now() + dt.timedelta(minutes=5))

    post_progress(**fe.student_progress(TOKEN, 0))

    expires_at = WorkshopSession.objects.get().expires_at
    assert (
        dt.timedelta(hours=167, minutes=59) < expires_at - timezone.now() <= dt.timedelta(hours=168)
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/student-config-save", fe.config_save_initial(TOKEN)),
        ("/api/report-bug", fe.report_bug(TOKEN, 0)),
        (
            f"/api/sessions/{TOKEN}/deployments",
            {"stepNumber": 9, "url": "https://a.example", "success": False},
        ),
    ],
)
def test_every_accepted_write_slides_the_expiry(api, path, body):
    WorkshopSessionFactory(session_token=TOKEN, expires_at=timezone.now() + dt.timedelta(minutes=5))

    assert api.post(path, body, format="json").status_code in (200, 201)

    expires_at = WorkshopSession.objects.get().expires_at
    assert expires_at - timezone.now() > dt.timedelta(hours=23, minutes=59)


# --- query budgets ---------------------------------------------------------------------------
def test_a_heartbeat_runs_at_most_8_queries(post_progress, django_assert_max_num_queries):
    post_progress(**fe.student_progress(TOKEN, 2))

    # 8 on SQLite: savepoint and release, session lock, the step rows (with the database
    # clock), the step's update, the totals with activity and expiry, the reply (2). No event
    # insert. On PostgreSQL the function (tests/budgets.py).
    with django_assert_max_num_queries(budget(postgres=POST_ON_POSTGRES, sqlite=8)):
        response = post_progress(**fe.student_progress(TOKEN, 2))

    assert response.status_code == 200
    assert response.json()["progress"]["step_progress"][0]["attempts"] == 1


def test_a_real_update_from_the_frontend_runs_at_most_10_queries(
    post_progress, django_assert_max_num_queries
):
    post_progress(**fe.student_progress(TOKEN, 2))

    # 10 on SQLite: a heartbeat's 8, the events insert and the outbox insert (the step's
    # first completion is news: docs/webhooks.md). On PostgreSQL the function.
    with django_assert_max_num_queries(budget(postgres=POST_ON_POSTGRES, sqlite=10)):
        response = post_progress(**fe.student_progress(TOKEN, 2, completed=True))

    assert response.status_code == 200
    assert response.json()["progress"]["completion_rate"] == 11
