"""Session tokens are credentials: logs show paths and query strings with them redacted.

A token travels in the path (/api/sessions/<token>...) and in the `sessionToken` query
parameter. One `redact()` rule serves Django's logging (a formatter on every handler, so
request warnings, tracebacks and runserver's request lines alike) and gunicorn's access log
(a logger class: `gunicorn --logger-class workshop.log_redaction.RedactingGunicornLogger`).
"""

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger

REDACTED = "[redacted]"
_PATH_TOKEN = re.compile(r"(/api/sessions/)[^/?#\s\"']+")
_QUERY_TOKEN = re.compile(r"((?:^|[?&;])session_?token=)[^&;#\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    """The text with every session token in a path or query string replaced by [redacted]."""
    return _QUERY_TOKEN.sub(rf"\g<1>{REDACTED}", _PATH_TOKEN.sub(rf"\g<1>{REDACTED}", text))


class RedactingFormatter(logging.Formatter):
    """The formatted line (message, arguments and traceback) with tokens redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger whose access-log atoms (request line, path, query, referer,
    headers) carry no session token."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
