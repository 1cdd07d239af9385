"""Browser-only middleware that a cookieless /api/ call passes straight through.

Sessions, the logged-in user, messages and the Content-Security-Policy serve a browser that
holds a session cookie. An API call without one (a student's token in the body, a service's
`Authorization: Token`) needs none of them: DRF authenticates it itself (DRF's
SessionAuthentication, with its own CSRF check, only for cookie logins, which keep the whole
chain), and a JSON reply runs no script (docs/benchmarks.md, "API request profile (issue 14)").

Each middleware here is the original class wrapped, so it keeps its name, its settings and
Django's checks (the admin's system checks look for these classes or their subclasses).
CsrfViewMiddleware, XFrameOptionsMiddleware and django-axes's middleware stay as they are:
Django's deploy checks and axes's own check want them by name, and for an API view they cost
next to nothing (API views are CSRF-exempt, so the check returns at once; the frame header is
one assignment; axes reads one attribute of the request).
What every reply keeps: SecurityMiddleware (nosniff, HSTS, the HTTPS redirect), the chunked
body handling, CORS, CommonMiddleware. The Swagger page (/api/docs/) is HTML a browser
renders, so it keeps the whole chain, its Content-Security-Policy included.
"""

from csp.middleware import CSPMiddleware as _CSP
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.http import HttpRequest

API_PREFIX = "/api/"
BROWSER_PAGES = ("/api/docs/",)


def is_cookieless_api_call(request: HttpRequest) -> bool:
    """An /api/ call (not the Swagger page) that carries no session cookie."""
    path = request.path_info
    return (
        path.startswith(API_PREFIX)
        and not path.startswith(BROWSER_PAGES)
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
    )


def browser_only(middleware: type) -> type:
    """The middleware class, passed through for cookieless /api/ calls."""

    def __call__(self, request):
        if is_cookieless_api_call(request):
            return self.get_response(request)
        return middleware.__call__(self, request)

    # The handler calls these hooks directly, not through __call__: they would not be skipped.
    hooks = ("process_view", "process_exception", "process_template_response")
    if any(hasattr(middleware, hook) for hook in hooks):
        raise TypeError(f"{middleware.__name__} has hooks browser_only does not skip")
    attrs = {"__call__": __call__, "__module__": __name__, "__doc__": middleware.__doc__}
    return type(middleware.__name__, (middleware,), attrs)


SessionMiddleware = browser_only(_Sessions)
AuthenticationMiddleware = browser_only(_Authentication)
MessageMiddleware = browser_only(_Messages)
CSPMiddleware = browser_only(_CSP)
