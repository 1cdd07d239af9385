"""Inputs a black-box attack pass found breaking the API (issue 11): each answers a clear 4xx
naming the field, or is handled, never a 500."""

import io
import json

import pytest
from django.db import connection

from progress.api import messages
from progress.api.exceptions import api_exception_handler
from progress.models import StepProgress
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

INT_MAX = 2**31 - 1


# --- Lone surrogates ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "field", ["callDirection", "selectedPhoneNumber", "ttsProvider", "websocketUrl", "demoMode"]
)
def test_lone_surrogate_in_a_patch_value_is_400_naming_the_field(api, field):
    session = WorkshopSessionFactory(call_direction="inbound")
    body = '{"' + field + '": "a\\ud800b"}'

    response = api.generic(
        "PATCH", f"/api/sessions/{session.pk}", body, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    reply = json.loads(response.content)
    assert list(reply["fields"]) == [field]
    # The reply is valid UTF-8 and never echoes the surrogate, raw or escaped.
    response.content.decode("utf-8")
    assert "\\ud800" not in response.content.decode().lower()
    session.refresh_from_db()
    assert session.call_direction == "inbound"


def test_no_error_message_carries_a_lone_surrogate(rf):
    """Whatever a validator quotes from the input, the reply stays encodable UTF-8."""
    from rest_framework.exceptions import ValidationError
    from rest_framework.request import Request

    exc = ValidationError({"field\ud800": ['"\ud800" is not valid.']})
    response = api_exception_handler(exc, {"request": Request(rf.get("/api/x"))})

    assert response.data["fields"] == {"field\ufffd": ['"\ufffd" is not valid.']}
    assert response.data["error"].encode("utf-8")


def test_lone_surrogate_in_a_json_key_is_400_naming_the_field(api):
    session = WorkshopSessionFactory()
    body = '{"voiceSettings": {"\\udc00": 1}}'

    response = api.generic(
        "PATCH", f"/api/sessions/{session.pk}", body, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["voiceSettings"]


def test_lone_surrogate_in_an_unknown_key_is_ignored_like_any_unknown_key(api):
    session = WorkshopSessionFactory()
    body = '{"\\ud800": 1, "ivrGreeting": "hello"}'

    response = api.generic(
        "PATCH", f"/api/sessions/{session.pk}", body, content_type="application/json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["progress"]["ivr_greeting"] == "hello"


# --- timeSpent past 2^31 --------------------------------------------------------------------
def test_step_time_saturates_at_the_column_maximum(post_progress):
    session = WorkshopSessionFactory()
    StepProgress.objects.create(
        session=session,
        student=session.student,
        step_number=1,
        step_name="One",
        time_spent=INT_MAX - 10,
        validation_passed=True,
    )

    response = post_progress(
        sessionToken=session.pk, stepNumber=1, completed=True, timeSpent=86_400
    )

    assert response.status_code == 200, response.content
    step = response.json()["progress"]["step_progress"][0]
    assert step["timeSpent"] == INT_MAX
    assert StepProgress.objects.get(session=session, step_number=1).time_spent == INT_MAX


def test_session_total_saturates_at_the_column_maximum(post_progress):
    session = WorkshopSessionFactory()
    for number in (1, 2):
        StepProgress.objects.create(
            session=session,
            student=session.student,
            step_number=number,
            step_name="Step",
            time_spent=INT_MAX - 5,
            validation_passed=True,
        )

    response = post_progress(sessionToken=session.pk, stepNumber=3, completed=True, timeSpent=1)

    assert response.status_code == 200, response.content
    assert response.json()["progress"]["total_time_spent"] == INT_MAX
    assert WorkshopSession.objects.get(pk=session.pk).total_time_spent == INT_MAX


def test_recalculating_a_session_saturates_too():
    from progress.totals import recalculate_session

    session = WorkshopSessionFactory()
    for number in (1, 2):
        StepProgress.objects.create(
            session=session,
            student=session.student,
            step_number=number,
            step_name="Step",
            time_spent=INT_MAX - 5,
            validation_passed=True,
        )

    totals = recalculate_session(session_token=session.pk)

    assert totals.total_time_spent == INT_MAX
    assert WorkshopSession.objects.get(pk=session.pk).total_time_spent == INT_MAX


# --- Chunked bodies -------------------------------------------------------------------------
def test_chunked_post_is_read(client):
    """gunicorn de-chunks the body and marks the input terminated; Django then reads it."""
    session = WorkshopSessionFactory()
    body = json.dumps({"sessionToken": session.pk, "stepNumber": 1, "timeSpent": 5}).encode()

    response = client.generic(
        "POST",
        "/api/student-progress",
        b"",
        content_type="application/json",
        **{
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        },
    )

    assert response.status_code == 200, response.content
    assert connection.vendor  # the request really ran against the database
    assert StepProgress.objects.get(session=session, step_number=1).time_spent == 5


def test_chunked_body_over_the_limit_is_400(client, settings):

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"sessionToken": "ws_chunked_big", "stepName": "x" * 200}).encode()

    response = client.generic(
        "POST",
        "/api/student-progress",
        b"",
        content_type="application/json",
        **{
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == messages.BODY_TOO_LARGE
    assert not WorkshopSession.objects.filter(pk="ws_chunked_big").exists()


def test_chunked_post_to_a_server_that_does_not_end_the_stream_is_411(client):

    body = json.dumps({"sessionToken": "ws_chunked_411"}).encode()

    response = client.generic(
        "POST",
        "/api/student-progress",
        b"",
        content_type="application/json",
        **{
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
        },
    )

    assert response.status_code == 411
    assert response.json()["success"] is False
    assert "Content-Length" in response.json()["error"]
    assert not WorkshopSession.objects.filter(pk="ws_chunked_411").exists()
