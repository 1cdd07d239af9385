"""Where a request carries its session token: the path, the query string or the JSON body.

The throttle needs it before the view has validated anything, so this looks only at values
shaped like a token; anything else counts as no token.
"""

import re

from rest_framework.request import Request

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{8,128}$"
_TOKEN = re.compile(TOKEN_PATTERN)


def is_session_token(value: object) -> bool:
    return isinstance(value, str) and bool(_TOKEN.match(value))


def request_session_token(request: Request, view) -> str | None:
    """The session token a request carries, or None."""
    candidates = [
        getattr(view, "kwargs", {}).get("token"),
        request.query_params.get("sessionToken"),
    ]
    if request.method in ("POST", "PUT", "PATCH") and request.content_type.startswith(
        "application/json"
    ):
        data = request.data
        if isinstance(data, dict):
            candidates.append(data.get("sessionToken"))
    for candidate in candidates:
        if is_session_token(candidate):
            return candidate
    return None
