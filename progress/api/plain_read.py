"""The API's two busiest calls, a student's page reading its own session and recording its
progress, answered before URL resolving and DRF's request cycle.

`plain_token_read(request)` says whether a request is the read: GET /api/student-progress
with one valid `sessionToken` and no other parameter, no credential (no Authorization
header, no session cookie: the only two ways the API authenticates), and an Accept that DRF
answers with JSON. Anything else, an invalid token included, goes the usual way, so the
view's serializer stays the one place that validates and words the errors.

`plain_progress_write(request)` says whether a request is the write: a POST there with a JSON
body, no credential, no session cookie; whatever the body holds, DRF's parser and the view's
serializer judge it, on either way.

`PlainCallsMiddleware` answers them with `StudentProgressView.answer_plain_read` and
`answer_plain_write`: the same throttle, replies, headers and errors as DRF's way
(progress/tests/test_plain_calls.py compares the two), for less CPU (half of a GET's).
It sits after the middleware whose headers every API reply carries (security, CORS,
X-Frame-Options) and skips what these calls do not need: URL resolving, the view's
wrappers, the browser-only middleware after it. Like Django's cache middleware answering from
its cache, it is an optimisation only: without it, the view answers the same.
"""

from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from progress.api.throttling import APIThrottle
from progress.api.tokens import is_session_token
from progress.api.views import StudentProgressView
from workshop.lean_api import is_cookieless_api_call

# Accept headers for which DRF's negotiation picks the JSON renderer (the API's only one):
# none, fetch()'s default and JSON itself. Any other goes through DRF's negotiation.
_PLAIN_ACCEPTS = frozenset({None, "*/*", "application/json"})


def _anonymous_json_call(request: HttpRequest) -> bool:
    """No credential (no Authorization header, no session cookie: the API's only two ways to
    authenticate) and an Accept that DRF answers with JSON."""
    return (
        "HTTP_AUTHORIZATION" not in request.META
        and is_cookieless_api_call(request)
        and request.META.get("HTTP_ACCEPT") in _PLAIN_ACCEPTS
    )


def plain_token_read(request: HttpRequest) -> str | None:
    """The session token of a plain token read (the module's docstring), else None."""
    if request.method != "GET" or not _anonymous_json_call(request):
        return None
    values = request.GET.getlist("sessionToken")
    if len(request.GET) != 1 or len(values) != 1:
        return None
    # The token's pattern (TOKEN_PATTERN), which ProgressLookupSerializer's field also applies:
    # a value this accepts, the field accepts unchanged (a test holds the two together).
    return values[0] if is_session_token(values[0]) else None


def plain_progress_write(request: HttpRequest) -> bool:
    """A progress POST sent the plain way: a JSON body from an anonymous caller (whatever the
    body holds: DRF's parser and the view's serializer judge it, on either way)."""
    return (
        request.method == "POST"
        and request.content_type == "application/json"
        and _anonymous_json_call(request)
    )


class PlainCallsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._path: str | None = None
        self._answerable = False

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self._path is None:  # not at start-up: the URLconf imports the views
            self._path = reverse("student-progress")
            self._answerable = _answerable_here()
        if self._answerable and request.path_info == self._path:
            token = plain_token_read(request)
            if token is not None:
                return StudentProgressView.answer_plain_read(request, token)
            if plain_progress_write(request):
                return StudentProgressView.answer_plain_write(request)
        return self.get_response(request)


def _answerable_here() -> bool:
    # The answers count with APIThrottle.count_anonymous_call, and no view runs here to be
    # wrapped in ATOMIC_REQUESTS' transaction: otherwise the view answers.
    return not connection.settings_dict.get("ATOMIC_REQUESTS") and all(
        issubclass(c, APIThrottle) for c in StudentProgressView.throttle_classes
    )
