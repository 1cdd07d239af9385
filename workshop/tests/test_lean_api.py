"""An /api/ call without a session cookie skips the browser-only middleware (sessions, auth,
messages, CSP); everything else (the admin, the dashboards, the Swagger page, a logged-in
instructor's API calls) keeps the whole chain, CSRF check included."""

import pytest
from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework.test import APIClient

from progress.api import messages
from progress.tests import frontend_requests as fe
from workshop.lean_api import browser_only, is_cookieless_api_call

pytestmark = pytest.mark.django_db

URL = "/api/student-progress"
CSRF_SECRET = "abcdefghijklmnopqrstuvwxyz012345"  # 32 characters, as Django makes them
BROWSER_HOOKS = [
    (SessionMiddleware, "process_request"),
    (AuthenticationMiddleware, "process_request"),
    (MessageMiddleware, "process_request"),
    (CSPMiddleware, "process_response"),
]


@pytest.fixture
def hooks_run(monkeypatch):
    """The names of the browser-only middleware that ran during the request."""
    ran: list[str] = []
    for middleware, hook in BROWSER_HOOKS:
        original = getattr(middleware, hook)

        def spy(self, request, *args, _original=original, _name=middleware.__name__):
            ran.append(_name)
            return _original(self, request, *args)

        monkeypatch.setattr(middleware, hook, spy)
    return ran


ALL_BROWSER_MIDDLEWARE = sorted(m.__name__ for m, _ in BROWSER_HOOKS)


def test_a_cookieless_api_call_skips_the_browser_middleware(hooks_run):
    response = APIClient().post(URL, fe.student_progress("ws_lean_call_token", 0), format="json")

    assert response.status_code == 200
    assert hooks_run == []
    # What a JSON reply keeps: SecurityMiddleware's headers and the frame header (Django's
    # deploy checks want XFrameOptionsMiddleware by name); no CSP, and no cookie is set.
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in response
    assert not response.cookies


def test_a_cookieless_error_reply_keeps_its_shape(hooks_run):
    response = APIClient().post(URL, {"sessionToken": 5}, format="json")

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert set(response.json()["fields"]) == {"sessionToken"}
    assert hooks_run == []


def test_cors_answers_a_cookieless_call_from_the_frontend(settings, hooks_run):
    settings.CORS_ALLOWED_ORIGINS = ["https://workshop.example"]

    response = APIClient().post(
        URL,
        fe.student_progress("ws_lean_cors_token", 0),
        format="json",
        HTTP_ORIGIN="https://workshop.example",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://workshop.example"
    assert hooks_run == []


def test_a_chunked_body_is_still_read_before_the_view(hooks_run):
    body = b'{"sessionToken": "ws_lean_chunked_1"}'
    response = APIClient().generic(
        "POST",
        URL,
        body,
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input_terminated": False},
    )

    # The test client's stream has no known end: 411, as ChunkedBodyMiddleware answers.
    assert response.status_code == 411


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_browser_pages_keep_the_whole_chain(client, hooks_run, path):
    response = client.get(path)

    assert response.status_code == 200
    assert sorted(set(hooks_run)) == ALL_BROWSER_MIDDLEWARE
    assert "Content-Security-Policy" in response
    assert response["X-Frame-Options"] == "DENY"


def test_the_dashboards_keep_the_whole_chain(client, hooks_run, instructor):
    client.force_login(instructor)

    response = client.get("/dashboard/")

    assert response.status_code == 200
    assert sorted(set(hooks_run)) == ALL_BROWSER_MIDDLEWARE


@pytest.fixture
def instructor_browser(instructor):
    """A logged-in instructor's browser: session cookie and CSRF cookie, checks enforced."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(instructor)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


def test_an_instructor_with_a_session_cookie_keeps_the_whole_chain(instructor_browser, hooks_run):
    response = instructor_browser.get(URL, {"studentEmail": "nobody@example.com"})

    # Authenticated as staff by the session cookie: an unknown email, not a 401 or 403.
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert sorted(set(hooks_run)) == ALL_BROWSER_MIDDLEWARE


def test_a_session_login_must_send_its_csrf_token(instructor_browser):
    body = fe.student_progress("ws_lean_csrf_token", 0)

    refused = instructor_browser.post(URL, body, format="json")
    accepted = instructor_browser.post(URL, body, format="json", HTTP_X_CSRFTOKEN=CSRF_SECRET)

    assert refused.status_code == 403
    assert refused.json()["success"] is False
    assert refused.json()["error"].startswith("CSRF Failed")
    assert accepted.status_code == 200


def test_an_api_call_without_a_session_cookie_is_anonymous_even_with_a_csrf_cookie(hooks_run):
    client = APIClient()
    client.cookies["csrftoken"] = CSRF_SECRET

    response = client.get(URL, {"studentEmail": "nobody@example.com"})

    assert response.status_code == 401
    assert response.json()["error"] == messages.AUTHENTICATION_REQUIRED
    assert hooks_run == []


def test_a_middleware_with_hooks_outside_call_is_refused():
    with pytest.raises(TypeError, match="CsrfViewMiddleware"):
        browser_only(CsrfViewMiddleware)


@pytest.mark.parametrize(
    ("path", "cookies", "expected"),
    [
        ("/api/student-progress", {}, True),
        ("/api/schema/", {}, True),
        ("/api/student-progress", {"sessionid": "x"}, False),
        ("/api/docs/", {}, False),
        ("/admin/", {}, False),
        ("/dashboard/", {}, False),
        ("/apix", {}, False),
    ],
)
def test_which_calls_are_cookieless_api_calls(rf, path, cookies, expected):
    request = rf.get(path)
    request.COOKIES.update(cookies)

    assert is_cookieless_api_call(request) is expected
