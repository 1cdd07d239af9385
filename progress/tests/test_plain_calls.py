"""The plain calls (progress.api.plain_read): GET ?sessionToken= and the progress POST answered
before URL resolving and DRF's request cycle must answer exactly what DRF's way answers, and
only the requests they are meant for may take them."""

import datetime as dt
import json

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from progress import replies
from progress.api import plain_read, views
from progress.api.plain_read import plain_token_read
from progress.api.serializers import ProgressLookupSerializer
from progress.tests.factories import StepProgressFactory
from workshop.models import WorkshopSession
from workshop.tests.factories import StudentFactory, WorkshopSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/student-progress"
TOKEN = "ws_plain_read_token"
# An Accept header DRF's negotiation accepts (JSON wins) but the plain read leaves to DRF:
# the same request, answered the other way.
DRF_WAY = {"HTTP_ACCEPT": "application/json; indent=0, */*;q=0.1"}


@pytest.fixture
def taken_paths(monkeypatch):
    """Which way each request went: "plain" or "drf"."""
    paths: list[str] = []
    original = views.APIView.dispatch

    def drf_dispatch(self, request, *args, **kwargs):
        paths.append("drf")
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(views.APIView, "dispatch", drf_dispatch)
    original_read = plain_read.plain_token_read

    def read(request):
        token = original_read(request)
        if token is not None:
            paths.append("plain")
        return token

    monkeypatch.setattr(plain_read, "plain_token_read", read)
    original_write = plain_read.plain_progress_write

    def write(request):
        plain = original_write(request)
        if plain:
            paths.append("plain")
        return plain

    monkeypatch.setattr(plain_read, "plain_progress_write", write)
    return paths


def _both_ways(path_params: dict, taken_paths: list[str]):
    """The same GET, first as it comes (the plain read), then with DRF_WAY's Accept."""
    client = APIClient()
    plain = client.get(URL, path_params)
    drf = client.get(URL, path_params, **DRF_WAY)
    return plain, drf


def _session_with_steps(**kwargs):
    session = WorkshopSessionFactory(session_token=TOKEN, **kwargs)
    StepProgressFactory(session=session, step_number=2, validation_passed=True)
    StepProgressFactory(session=session, step_number=1)
    return session


@pytest.mark.parametrize(
    "student",
    [
        pytest.param({"student_email": "ada@example.com", "student_name": "Ada"}, id="named"),
        pytest.param({}, id="factory default"),
    ],
)
def test_the_plain_read_answers_what_drfs_way_answers(taken_paths, student):
    _session_with_steps(student=StudentFactory(**student))

    plain, drf = _both_ways({"sessionToken": TOKEN}, taken_paths)

    assert taken_paths == ["plain", "drf"]
    assert (plain.status_code, drf.status_code) == (200, 200)
    assert json.loads(plain.content) == json.loads(drf.content)
    assert json.loads(plain.content)["progress"]["step_progress"][0]["stepNumber"] == 1
    assert plain.headers["Content-Type"] == "application/json"
    # Every header DRF's way sends (security, X-Frame-Options, Allow...), but the length: the
    # plain read sends PostgreSQL's JSON text, with its spaces.
    assert _headers(plain) == _headers(drf)


def test_a_cross_origin_plain_read_carries_the_cors_headers(taken_paths, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://workshop.example"]
    _session_with_steps()
    origin = {"HTTP_ORIGIN": "https://workshop.example"}
    client = APIClient()

    plain = client.get(URL, {"sessionToken": TOKEN}, **origin)
    drf = client.get(URL, {"sessionToken": TOKEN}, **origin, **DRF_WAY)

    assert taken_paths == ["plain", "drf"]
    assert plain.headers["Access-Control-Allow-Origin"] == "https://workshop.example"
    assert _headers(plain) == _headers(drf)


def _headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name != "Content-Length"}


def test_an_unknown_token_is_the_same_404_both_ways(taken_paths):
    plain, drf = _both_ways({"sessionToken": "ws_nobody_has_this"}, taken_paths)

    assert taken_paths == ["plain", "drf"]
    assert (plain.status_code, drf.status_code) == (404, 404)
    assert (
        plain.json()
        == drf.json()
        == {
            "success": False,
            "error": "Session not found.",
            "fields": {},
        }
    )
    assert plain.headers["Allow"] == drf.headers["Allow"]


def test_a_throttled_plain_read_is_the_same_429_and_counted_once(taken_paths, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/minute", "address": "100/minute"},
    }
    WorkshopSessionFactory(session_token=TOKEN)
    client = APIClient()

    statuses = [client.get(URL, {"sessionToken": TOKEN}).status_code for _ in range(3)]
    refused_plain = client.get(URL, {"sessionToken": TOKEN})
    refused_drf = client.get(URL, {"sessionToken": TOKEN}, **DRF_WAY)

    # Two calls allowed by the token's window, whichever way they come: counted once each.
    assert statuses == [200, 200, 429]
    assert taken_paths == ["plain"] * 4 + ["drf"]
    assert refused_plain.status_code == refused_drf.status_code == 429
    assert refused_plain.json() == refused_drf.json()
    assert refused_plain.json()["error"].startswith("Too many requests")
    assert refused_plain.headers["Retry-After"] == refused_drf.headers["Retry-After"]


def test_a_database_that_does_not_answer_is_the_same_503(taken_paths, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(replies, "session_reply_json", unavailable)
    monkeypatch.setattr(replies, "session_reply", unavailable)

    plain, drf = _both_ways({"sessionToken": TOKEN}, taken_paths)

    assert taken_paths == ["plain", "drf"]
    assert (plain.status_code, drf.status_code) == (503, 503)
    assert plain.json() == drf.json()
    assert plain.headers["Retry-After"] == drf.headers["Retry-After"] == "5"


@pytest.mark.postgres
def test_the_plain_read_is_one_statement(django_assert_num_queries):
    _session_with_steps()
    client = APIClient()
    client.get(URL, {"sessionToken": TOKEN})  # the connection is open

    with django_assert_num_queries(1):
        assert client.get(URL, {"sessionToken": TOKEN}).status_code == 200


# --- Which requests take it ------------------------------------------------------------------
factory = RequestFactory()


def test_the_plain_read_is_a_cookieless_anonymous_json_get_of_one_valid_token():
    assert plain_token_read(factory.get(URL, {"sessionToken": TOKEN})) == TOKEN
    for accept in ("*/*", "application/json"):
        assert plain_token_read(factory.get(URL, {"sessionToken": TOKEN}, HTTP_ACCEPT=accept))


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(factory.post(URL, {"sessionToken": TOKEN}), id="POST"),
        pytest.param(factory.get(URL, {"sessionToken": "short"}), id="invalid token"),
        pytest.param(factory.get(URL, {"sessionToken": " " + TOKEN}), id="padded token"),
        pytest.param(factory.get(URL), id="no token"),
        pytest.param(factory.get(URL + f"?sessionToken={TOKEN}&sessionToken={TOKEN}"), id="twice"),
        pytest.param(
            factory.get(URL, {"sessionToken": TOKEN, "studentId": "x"}), id="another parameter"
        ),
        pytest.param(factory.get(URL, {"sessionToken": TOKEN, "format": "json"}), id="format"),
        pytest.param(
            factory.get(URL, {"sessionToken": TOKEN}, HTTP_AUTHORIZATION="Token abc"),
            id="a credential",
        ),
        pytest.param(
            factory.get(
                URL,
                {"sessionToken": TOKEN},
                HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=abc",
            ),
            id="a session cookie",
        ),
        pytest.param(factory.get(URL, {"sessionToken": TOKEN}, HTTP_ACCEPT="text/html"), id="HTML"),
    ],
)
def test_every_other_request_takes_drfs_way(request_):
    assert plain_token_read(request_) is None


def test_every_way_to_authenticate_is_a_credential_the_plain_read_looks_for():
    # plain_token_read treats a request without an Authorization header and without a session
    # cookie as anonymous: true only while these are the API's authenticators.
    configured = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    assert configured == [TokenAuthentication, SessionAuthentication]
    assert views.StudentProgressView.authentication_classes == configured


@pytest.mark.parametrize(
    "value",
    ["ws_" + "a" * 5, "a" * 8, "a" * 128, "a" * 129, "A-b_c9" * 3, "a" * 7, "abc defgh", "é" * 9],
)
def test_a_token_the_plain_read_takes_is_one_the_serializer_accepts_unchanged(value):
    selected = plain_token_read(factory.get(URL, {"sessionToken": value}))
    lookup = ProgressLookupSerializer(data={"sessionToken": value})

    if selected is not None:
        assert lookup.is_valid(), lookup.errors
        assert lookup.validated_data == {"sessionToken": selected}


# --- The progress POST -----------------------------------------------------------------------
def _post_both_ways(body_of, taken_paths: list[str]):
    """The same POST for two sessions in the same state: the plain way, then DRF's way. Replies
    with the session's own token and times set aside."""
    client = APIClient()
    replies_ = []
    for token, extra in (("ws_plain_write_1", {}), ("ws_plain_write_2", DRF_WAY)):
        response = client.post(URL, body_of(token), format="json", **extra)
        replies_.append((response.status_code, _comparable(response.json())))
    return replies_


def _comparable(reply: dict) -> dict:
    progress = reply.get("progress")
    if progress:
        for key in (
            "session_token",
            "started_at",
            "last_activity",
            "expires_at",
            "created_at",
            "updated_at",
            "student_id",
        ):
            progress.pop(key)
        for step in progress["step_progress"]:
            step.pop("startedAt")
            step.pop("completedAt")
    return reply


def test_the_plain_write_answers_what_drfs_way_answers(taken_paths):
    def body(token):
        return {
            "sessionToken": token,
            "studentEmail": f"{token}@example.com",
            "studentName": "Ada",
            "stepNumber": 2,
            "completed": True,
            "timeSpent": 90,
        }

    plain, drf = _post_both_ways(body, taken_paths)

    assert taken_paths == ["plain", "drf"]
    assert plain[0] == drf[0] == 200
    plain[1]["progress"].pop("student_email")
    drf[1]["progress"].pop("student_email")
    assert plain == drf
    assert plain[1]["progress"]["step_progress"][0]["timeSpent"] == 90


@pytest.mark.parametrize(
    "body_of",
    [
        pytest.param(lambda token: {"sessionToken": token, "stepNumber": 10}, id="bad field"),
        pytest.param(lambda token: {"sessionToken": "short", "stepNumber": 1}, id="bad token"),
        pytest.param(lambda token: ["not", "an", "object"], id="not an object"),
        pytest.param(lambda token: {"sessionToken": token, "studentEmail": "nope"}, id="bad email"),
    ],
)
def test_a_refused_plain_write_is_the_same_400_and_changes_nothing(taken_paths, body_of):
    plain, drf = _post_both_ways(body_of, taken_paths)

    assert taken_paths == ["plain", "drf"]
    assert plain == drf
    assert plain[0] == 400
    assert not WorkshopSession.objects.exists()


def test_a_body_that_is_not_json_is_the_same_400_both_ways(taken_paths):
    client = APIClient()
    plain = client.post(URL, b"{not json", content_type="application/json")
    drf = client.post(URL, b"{not json", content_type="application/json", **DRF_WAY)

    assert taken_paths == ["plain", "drf"]
    assert plain.status_code == drf.status_code == 400
    assert plain.json() == drf.json()


@pytest.mark.parametrize("closed", [True, False], ids=["410 closed", "409 taken"])
def test_a_refused_session_is_the_same_error_both_ways(taken_paths, closed):
    owner = StudentFactory(student_email="owner@example.com")
    for token in ("ws_plain_write_1", "ws_plain_write_2"):
        WorkshopSessionFactory(
            session_token=token,
            student=owner,
            expires_at=timezone.now() + dt.timedelta(seconds=-1 if closed else 3600),
        )

    def body(token):
        return {"sessionToken": token, "studentEmail": "other@example.com", "stepNumber": 1}

    plain, drf = _post_both_ways(body if not closed else lambda t: {"sessionToken": t}, taken_paths)

    assert plain == drf
    assert plain[0] == (410 if closed else 409)


def test_a_throttled_plain_write_is_the_same_429_and_counted_once(taken_paths, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/minute", "address": "100/minute"},
    }
    client = APIClient()
    body = {"sessionToken": TOKEN, "stepNumber": 1}

    statuses = [client.post(URL, body, format="json").status_code for _ in range(3)]
    refused_drf = client.post(URL, body, format="json", **DRF_WAY)

    assert statuses == [200, 200, 429]
    assert taken_paths == ["plain"] * 3 + ["drf"]
    assert refused_drf.status_code == 429


def test_other_posts_take_drfs_way():
    assert plain_read.plain_progress_write(factory.post(URL, {}, content_type="application/json"))
    for request_ in (
        factory.post(URL, "a=b", content_type="application/x-www-form-urlencoded"),
        factory.post(URL, {}, content_type="application/json", HTTP_AUTHORIZATION="Token a"),
        factory.post(
            URL,
            {},
            content_type="application/json",
            HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=abc",
        ),
        factory.post(URL, {}, content_type="application/json", HTTP_ACCEPT="text/html"),
        factory.put(URL, {}, content_type="application/json"),
    ):
        assert not plain_read.plain_progress_write(request_)
