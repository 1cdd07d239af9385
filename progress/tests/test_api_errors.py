"""The API's edges: every error in one shape, throttling, CORS, health, schema and docs."""

import pytest
from django.db import InterfaceError, OperationalError, connection

from analytics.models import Event
from progress import selectors
from progress.api import messages
from progress.api.exceptions import api_exception_handler
from progress.models import StepProgress
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/student-progress"


def assert_error(response, status: int, message: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"success": False, "error": message, "fields": {}}


def post_raw(api, body: bytes | str, content_type: str = "application/json"):
    return api.generic("POST", URL, body, content_type=content_type)


@pytest.mark.parametrize(
    "path", ["/api/nothing-here", "/api/student-progress/", "/api/sessions/a/b/c"]
)
def test_unknown_api_paths_are_json_404(api, path):
    assert_error(api.get(path), 404, messages.ROUTE_NOT_FOUND)
    assert_error(api.post(path, {}, format="json"), 404, messages.ROUTE_NOT_FOUND)


def test_paths_without_trailing_slash_are_not_redirected(api):
    response = api.post(URL, {"sessionToken": "ws_no_slash_1"}, format="json")

    assert response.status_code == 200


def test_wrong_method_is_json_405(api):
    assert_error(api.delete(URL), 405, messages.METHOD_NOT_ALLOWED.format(method="DELETE"))
    assert_error(api.get("/api/sessions"), 405, messages.METHOD_NOT_ALLOWED.format(method="GET"))


def test_form_body_is_json_415(api):
    response = post_raw(api, "sessionToken=ws_abcdefgh", "application/x-www-form-urlencoded")

    assert_error(response, 415, messages.UNSUPPORTED_MEDIA_TYPE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"sessionToken": ', messages.BODY_NOT_JSON),
        (b'{"sessionToken": NaN}', messages.BODY_NOT_JSON),
        (b"[" * 100_000 + b"]" * 100_000, messages.BODY_NOT_JSON),
        (b'{"sessionToken": "ws_\xff\xfe_abc"}', messages.BODY_NOT_UTF8),
    ],
    ids=["truncated", "nan", "deeply-nested", "invalid-utf8"],
)
def test_malformed_body_is_400_and_changes_nothing(api, body, message):
    assert_error(post_raw(api, body), 400, message)
    assert not WorkshopSession.objects.exists()


def test_body_over_1_mb_is_400(api):
    body = '{"sessionToken": "ws_abcdefgh", "codeSubmitted": "' + "x" * (1024 * 1024) + '"}'

    assert_error(post_raw(api, body), 400, messages.BODY_TOO_LARGE)
    assert not WorkshopSession.objects.exists()


def test_json_that_is_not_an_object_is_400(api):
    response = post_raw(api, b"[1, 2]")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }


def test_unexpected_error_is_a_json_500_without_details():
    response = api_exception_handler(RuntimeError("secret detail"), {"view": None})

    assert response.status_code == 500
    assert response.data == {"success": False, "error": messages.INTERNAL_ERROR, "fields": {}}
    assert "secret detail" not in str(response.data)


# --- throttling -----------------------------------------------------------------------------
@pytest.fixture
def throttle_rate(settings):
    def set_rate(rate: str, num_proxies: int = 0) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": rate},
            "NUM_PROXIES": num_proxies,
        }

    return set_rate


def test_anonymous_calls_beyond_the_rate_are_429_with_retry_after(api, throttle_rate):
    throttle_rate("2/minute")

    statuses = [api.get(URL, {"sessionToken": "ws_unknown_1"}).status_code for _ in range(3)]

    assert statuses == [404, 404, 429]
    response = api.get(URL, {"sessionToken": "ws_unknown_1"})
    assert_error(response, 429, messages.THROTTLED.format(seconds=response["Retry-After"]))
    assert 0 < int(response["Retry-After"]) <= 60


def test_instructors_are_not_throttled(staff_api, throttle_rate):
    throttle_rate("1/minute")

    statuses = {staff_api.get(URL, {"sessionToken": "ws_unknown_1"}).status_code for _ in range(3)}

    assert statuses == {404}


def test_throttle_trusts_only_the_configured_proxy_hops(api, throttle_rate):
    throttle_rate("1/minute", num_proxies=1)

    def call(forwarded_for: str) -> int:
        return api.get("/api/nothing", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # Behind one proxy the last X-Forwarded-For hop is the client: two clients, one each.
    assert [call("203.0.113.1"), call("203.0.113.2"), call("203.0.113.1")] == [404, 404, 429]
    # A client prepending fake hops is still keyed on the hop our proxy added.
    assert call("198.51.100.9, 203.0.113.2") == 429


def test_without_proxies_forwarded_for_is_ignored(api, throttle_rate):
    throttle_rate("1/minute", num_proxies=0)

    first = api.get("/api/nothing", HTTP_X_FORWARDED_FOR="203.0.113.1")
    spoofed = api.get("/api/nothing", HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert (first.status_code, spoofed.status_code) == (404, 429)


# --- CORS -----------------------------------------------------------------------------------
def test_cors_allows_configured_origins_exactly(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://workshop.example"]

    allowed = api.options(
        URL, HTTP_ORIGIN="https://workshop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    lookalike = api.options(
        URL,
        HTTP_ORIGIN="https://workshop.example.evil.test",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )

    assert allowed["Access-Control-Allow-Origin"] == "https://workshop.example"
    assert "Access-Control-Allow-Origin" not in lookalike


# --- health, schema, docs -------------------------------------------------------------------
def test_health_answers_200_when_the_database_does(api):
    response = api.get("/api/health")

    assert (response.status_code, response.json()) == (200, {"success": True, "database": "ok"})


def test_health_answers_503_when_the_database_does_not(api, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    # The outage is the outside world: the connection refuses, as a stopped server would.
    monkeypatch.setattr(connection, "cursor", refuse)

    assert_error(api.get("/api/health"), 503, messages.DATABASE_UNAVAILABLE)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_api_calls_answer_503_while_the_database_is_down(api, monkeypatch, error):
    def refuse(*args, **kwargs):
        raise error("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    body = {"sessionToken": "ws_outage_1", "stepNumber": 1}

    post = api.post(URL, body, format="json")
    get = api.get(URL, {"sessionToken": "ws_outage_1"})

    assert_error(post, 503, messages.DATABASE_UNAVAILABLE)
    assert_error(get, 503, messages.DATABASE_UNAVAILABLE)
    assert post["Retry-After"] == "5"
    monkeypatch.undo()
    assert not WorkshopSession.objects.filter(pk="ws_outage_1").exists()


# The reply's read failing as a lost connection does (SQLSTATE 08006), in the database.
FAILING_REPLY_FUNCTION = """
CREATE OR REPLACE FUNCTION wp_session_reply(p_session_token text) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'server closed the connection unexpectedly' USING ERRCODE = '08006';
END $$"""


def test_a_post_whose_reply_cannot_be_read_writes_nothing(api, monkeypatch):
    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    # The database goes away between the writes and the reply's read: the client is told
    # 503, so the writes must not have been committed either. On PostgreSQL the reply is
    # read inside the write's function (the test's transaction undoes the replacement).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(FAILING_REPLY_FUNCTION)
    else:
        monkeypatch.setattr(selectors, "session_progress", database_gone)

    response = api.post(URL, {"sessionToken": "ws_outage_2", "stepNumber": 1}, format="json")

    assert_error(response, 503, messages.DATABASE_UNAVAILABLE)
    assert not WorkshopSession.objects.filter(pk="ws_outage_2").exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"systemPrompt": "Be brief."}),
        ("/deployments", {"stepNumber": 4, "url": "https://app.example.com", "success": True}),
    ],
)
def test_a_session_write_whose_reply_cannot_be_read_writes_nothing(api, monkeypatch, path, body):
    session = WorkshopSessionFactory()

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "session_progress", database_gone)
    send = api.patch if path == "" else api.post

    response = send(f"/api/sessions/{session.pk}{path}", body, format="json")

    assert_error(response, 503, messages.DATABASE_UNAVAILABLE)
    session.refresh_from_db()
    assert session.system_prompt is None
    assert not StepProgress.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.postgres
def test_connections_to_postgresql_give_up_after_the_connect_timeout():
    # Without it a request waits on an unreachable server for the OS's TCP timeout (minutes).
    assert connection.get_connection_params()["connect_timeout"] == 5


def test_schema_describes_every_endpoint(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/api/student-progress",
        "/api/sessions",
        "/api/sessions/{token}",
        "/api/sessions/{token}/bug-reports",
        "/api/sessions/{token}/deployments",
        "/api/health",
        "/api/generate-session",
        "/api/student-config-get",
        "/api/student-config-save",
        "/api/student-config-update",
        "/api/report-bug",
        "/api/submit-feedback",
        "/api/session-log",
        "/api/get-student-ai-settings",
    }
    post = paths["/api/student-progress"]["post"]["responses"]
    assert {"200", "400", "409", "410", "415", "429"} <= set(post)
    schemas = response.json()["components"]["schemas"]
    assert "openaiApiKey" in schemas["PatchedSessionConfigurationRequest"]["properties"]
    assert "openai_api_key" not in schemas["Session"]["properties"]
    assert "has_openai_api_key" in schemas["Session"]["properties"]
    # The public share link shows progress only (docs/api.md).
    assert set(schemas["SharedSession"]["properties"]) == {
        "display_name",
        "started_at",
        "last_activity",
        "is_active",
        "current_step",
        "completion_rate",
        "total_time_spent",
        "step_progress",
    }


def test_docs_are_served_locally_without_cdn(api, settings):
    # Production serves the collected, hashed files; tests have no collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    response = api.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


def test_invalid_drf_token_is_401_on_any_call(api):
    response = api.post(
        URL, {"sessionToken": "ws_abcdefgh"}, format="json", HTTP_AUTHORIZATION="Token nope"
    )

    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "Invalid token.", "fields": {}}
    assert not WorkshopSession.objects.exists()
