"""Browser-only middleware that a cookieless /api/ call passes straight through.

Sessions, the logged-in user, messages, the CSRF check, frame and content-security headers
serve a browser that holds a session cookie. An API call without
one (a student's token in the body, a service's `Authorization: Token`) needs none of them:
DRF authenticates it itself, its views are CSRF-exempt (DRF's SessionAuthentication checks
CSRF for cookie logins, which keep the whole chain), and a JSON reply is never framed or
scripted. Skipping them took 3-6% of a request's CPU off every API call
(docs/benchmarks.md, "API request profile (issue 14)").

Each middleware here is the original class wrapped, so it keeps its name, its settings and
Django's checks (the admin's system checks look for these classes or their subclasses).
django-axes's middleware stays as it is: its own check wants it by name, and on a reply it
only reads one attribute of the request.
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
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.csrf import CsrfViewMiddleware as _Csrf

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


def _skipping(middleware: type, hook: str):
    def call_hook(self, request, *args):
        if is_cookieless_api_call(request):
            return None
        return getattr(middleware, hook)(self, request, *args)

    call_hook.__name__ = hook
    return call_hook


def browser_only(middleware: type) -> type:
    """The middleware class, passed through for cookieless /api/ calls."""

    def __call__(self, request):
        if is_cookieless_api_call(request):
            return self.get_response(request)
        return middleware.__call__(self, request)

    attrs = {"__call__": __call__, "__module__": __name__, "__doc__": middleware.__doc__}
    # The handler calls process_view & co. directly (CsrfViewMiddleware's check is one).
    for hook in ("process_view", "process_exception", "process_template_response"):
        if hasattr(middleware, hook):
            attrs[hook] = _skipping(middleware, hook)
    return type(middleware.__name__, (middleware,), attrs)


SessionMiddleware = browser_only(_Sessions)
CsrfViewMiddleware = browser_only(_Csrf)
AuthenticationMiddleware = browser_only(_Authentication)
MessageMiddleware = browser_only(_Messages)
XFrameOptionsMiddleware = browser_only(_XFrameOptions)
CSPMiddleware = browser_only(_CSP)
