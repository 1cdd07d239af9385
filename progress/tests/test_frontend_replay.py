"""One student through the whole workshop, replayed as the real frontend sends it.

In order: a server-made token, the configuration read back, nine steps with the 0-based
numbering and the frontend's titles, a keystroke storm on every step (its POST per state
change, always `timeSpent: 0`), the five configuration-save bodies and the settings panel's
updates, a session log, a bug report, a returning student giving an email then a name, a
stale second tab, feedback. Then the rows are asserted exactly: nine completed steps
numbered 1 to 9 with the catalogue's names, real times measured by the server, completion
100, and no secret in any reply.
"""

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import Event, EventType
from progress.models import StepProgress
from progress.tests import frontend_requests as fe
from workshop.crypto import decrypt_secret
from workshop.models import Student, WorkshopSession
from workshop.steps import STEPS

pytestmark = pytest.mark.django_db

# Seconds the student works on each step between keystrokes (the storm), per step index.
WORK = {
    0: [40, 25],
    1: [30, 30, 30],
    2: [60],
    3: [90, 45],
    4: [120],
    5: [100, 80],
    6: [70, 70],
    7: [50],
    8: [30, 20],
}
# One gap on step 5 (index 4) is a coffee break past the 10-minute idle limit: not counted.
IDLE_BREAK = 11 * 60


class Frontend:
    """The student's browser: one address, every reply kept to check for secrets."""

    def __init__(self) -> None:
        self.client = APIClient(REMOTE_ADDR="203.0.113.7")
        self.replies: list[str] = []

    def call(self, method: str, path: str, body=None, status: int = 200) -> dict:
        if method == "get":
            response = self.client.get(path)
        else:
            response = getattr(self.client, method)(path, body, format="json")
        assert response.status_code == status, response.content
        self.replies.append(response.content.decode())
        return response.json()

    def progress(self, body: dict) -> dict:
        reply = self.call("post", "/api/student-progress", body)
        assert reply["success"] is True
        return reply


def test_one_student_through_nine_steps_as_the_frontend_sends_it(database_clock):
    browser = Frontend()
    token = browser.call("post", "/api/generate-session", fe.generate_session())["sessionToken"]
    config = browser.call("get", f"/api/student-config-get?sessionToken={token}")["config"]
    assert (config["sessionToken"], config["hasOpenaiApiKey"]) == (token, False)

    email, name = "", ""
    for index in range(9):
        step_number = index + 1
        # Arriving on the step: a POST of the new state, not yet completed.
        browser.progress(fe.student_progress(token, index, email=email, name=name))
        browser.call(
            "post",
            "/api/session-log",
            fe.session_log(token, index, "navigation", **{"from": index - 1, "to": index}),
        )
        # The keystroke storm: the same state again and again while the student types.
        for seconds in WORK[index]:
            database_clock.last_seen_ago(token, step_number, seconds)
            browser.progress(fe.student_progress(token, index, email=email, name=name))
            browser.progress(fe.student_progress(token, index, email=email, name=name))
        if index == 4:
            database_clock.last_seen_ago(token, step_number, IDLE_BREAK)
            browser.progress(fe.student_progress(token, index, email=email, name=name))

        completed = "Dental office receptionist" if index == 1 else True
        browser.progress(
            fe.student_progress(token, index, completed=completed, email=email, name=name)
        )
        # Typing on after completing: more heartbeats, the string growing.
        browser.progress(
            fe.student_progress(token, index, completed=f"{completed}s", email=email, name=name)
        )

        if index == 0:
            saved = browser.call(
                "post",
                "/api/student-config-save",
                fe.config_save_initial(token, api_key=fe.FAKE_OPENAI_KEY),
            )
            assert saved["success"] is True
            assert saved["message"] == "Configuration saved"
        if index == 3:
            browser.call("post", "/api/student-config-save", fe.config_save_sync(token))
            # The student comes back from another device with an invitation link: email
            # only (its studentName is then the email), later the name too.
            email = "Ada@Example.com"
            browser.progress(fe.student_progress(token, index, completed=True, email=email))
            assert Student.objects.get(student_email="ada@example.com").student_name is None
        if index == 4:
            browser.call("post", "/api/student-config-save", fe.config_save_codespace(token))
            name = "Ada Lovelace"
        if index == 5:
            reply = browser.call(
                "post", "/api/report-bug", fe.report_bug(token, index, email=email)
            )
            assert reply == {
                "success": True,
                "message": "Thank you for reporting this issue! We'll look into it.",
            }
            browser.call(
                "post",
                "/api/session-log",
                fe.session_log(token, index, "error", errorType="ws", errorMessage="closed"),
            )
        if index == 6:
            browser.call(
                "post",
                "/api/student-config-save",
                fe.config_save_prompt(token, prompt="You are Ada's dental receptionist."),
            )
            # A stale second tab, still on step 3 with its old state, posts it.
            stale = Frontend()
            stale.progress(fe.student_progress(token, 2, email=email, name=name))
            stale.call("post", "/api/student-config-save", fe.config_save_all(token))
            browser.replies += stale.replies
        if index == 7:
            browser.call("post", "/api/student-config-save", fe.config_save_all(token))
            # The settings panel (its own page) edits the prompt and adds a tool.
            panel = [
                fe.config_update(token, systemPrompt="You book cleanings. Be brief."),
                fe.config_update(token, tools=[{"name": "book_cleaning", "parameters": {}}]),
                fe.config_update(token, openaiApiKey=fe.FAKE_OPENAI_KEY),
                fe.config_update(
                    token,
                    twilioAccountSid="AC00000000000000000000000000000000",
                    twilioAuthToken="not-a-real-token",
                    selectedPhoneNumber="+14155550123",
                ),
                fe.config_update(token, aiModel="gpt-4o-mini", aiTemperature=0.7),
            ]
            for body in panel:
                assert browser.call("put", "/api/student-config-update", body)["success"] is True

    feedback = browser.call("post", "/api/submit-feedback", fe.submit_feedback(8, rating=5))
    assert feedback["success"] is True
    final = browser.progress(fe.student_progress(token, 8, completed=True, email=email, name=name))

    # --- the rows ----------------------------------------------------------------------------
    session = WorkshopSession.objects.select_related("student").get()
    rows = list(StepProgress.objects.filter(session=session).order_by("step_number"))
    expected_times = [sum(WORK[index]) for index in range(9)]
    assert [
        (row.step_number, row.step_name, row.validation_passed, row.attempts, row.time_spent)
        for row in rows
    ] == [(step.number, step.title, True, 2, expected_times[step.number - 1]) for step in STEPS]
    assert (session.current_step, session.completion_rate, session.total_time_spent) == (
        9,
        100,
        sum(expected_times),
    )
    assert final["progress"]["completion_rate"] == 100
    assert (session.student.student_email, session.student.student_name) == (
        "ada@example.com",
        "Ada Lovelace",
    )
    assert Student.objects.count() == 1
    assert session.expires_at > timezone.now() + dt.timedelta(hours=23)

    # The configuration: the panel's prompt and tool, the key encrypted, wss:// URLs kept,
    # nothing wiped by the stale tab's empty fields, Twilio credentials never stored.
    assert session.system_prompt == "You book cleanings. Be brief."
    assert session.tools == [{"name": "book_cleaning", "parameters": {}}]
    assert decrypt_secret(session.openai_api_key) == fe.FAKE_OPENAI_KEY
    assert (session.selected_phone_number, session.call_direction) == ("+14155550123", "inbound")
    assert session.websocket_url == session.codespace_url == fe.RAILWAY_WS + token
    assert session.voice_settings == {
        "provider": "elevenlabs",
        "voice": "UgBBYS2sOqTuMpoF3BR0",
        "language": "en-US",
    }
    assert "not-a-real-token" not in json.dumps(list(WorkshopSession.objects.values()), default=str)

    # The bug report on the session, the feedback kept without one (none was sent).
    (report,) = session.bug_reports
    assert (report["step"], report["pageUrl"], report["description"]) == (
        6,
        "https://workshop.example/",
        fe.report_bug(token, 5)["description"],
    )
    assert "studentEmail" not in report

    events = Event.objects.all()
    counts = {kind: events.filter(event_type=kind).count() for kind in EventType.values}
    assert counts == {
        **dict.fromkeys(EventType.values, 0),
        "session_created": 1,
        "step_started": 9,
        "step_completed": 9,
        "step_progress": 18,
        "bug_reported": 1,
        "feedback_submitted": 1,
        "session_log": 10,
    }
    rating = events.get(event_type="feedback_submitted")
    assert (rating.session_id, rating.event_data["rating"], rating.event_data["stepNumber"]) == (
        None,
        5,
        9,
    )
    logs = events.filter(event_type="session_log")
    assert {log.session_id for log in logs} == {token}
    assert sorted(log.event_data["stepNumber"] for log in logs) == [1, 2, 3, 4, 5, 6, 6, 7, 8, 9]

    # Nothing secret in any reply the browser got.
    assert browser.replies
    assert not [reply for reply in browser.replies if fe.FAKE_OPENAI_KEY in reply]
    assert not [reply for reply in browser.replies if "openaiApiKey" in reply]
