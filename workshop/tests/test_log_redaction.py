"""Session tokens never reach the logs: paths and query strings are logged redacted, by
Django's own logging and by gunicorn's access log (issue 11)."""

import datetime as dt
import logging
from pathlib import Path

import pytest
from gunicorn.config import Config

from workshop.log_redaction import RedactingGunicornLogger, redact

TOKEN = "ws_S3cretT0kenValue_abcdef123456"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"/api/sessions/{TOKEN}", "/api/sessions/[redacted]"),
        (f"/api/sessions/{TOKEN}/bug-reports", "/api/sessions/[redacted]/bug-reports"),
        (
            f"PATCH /api/sessions/{TOKEN}?x=1 HTTP/1.1",
            "PATCH /api/sessions/[redacted]?x=1 HTTP/1.1",
        ),
        (
            f"/api/student-progress?sessionToken={TOKEN}",
            "/api/student-progress?sessionToken=[redacted]",
        ),
        (f"a=1&sessiontoken={TOKEN}&b=2", "a=1&sessiontoken=[redacted]&b=2"),
        (f"/api/sessions/{TOKEN[:10]}%2F..", "/api/sessions/[redacted]"),
        ("/api/sessions", "/api/sessions"),
        ("/api/student-progress?studentId=1", "/api/student-progress?studentId=1"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


@pytest.mark.django_db
def test_django_request_log_lines_are_redacted(client, caplog):
    """The configured stdout handler formats django.request's warning without the token."""
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.patch(f"/api/sessions/{TOKEN}", "{}", content_type="application/json")
        client.get(f"/api/student-progress?sessionToken={TOKEN}x")

    handler = logging.getLogger("django").handlers[0]
    lines = [handler.format(record) for record in caplog.records]
    assert lines, "the 404s were logged"
    assert all(TOKEN not in line for line in lines), lines
    assert any("/api/sessions/[redacted]" in line for line in lines), lines


def test_the_root_and_server_loggers_redact_too():
    for name in ("", "django.server"):
        # pytest's own capturing handlers aside.
        handlers = [
            h
            for h in logging.getLogger(name).handlers
            if not type(h).__module__.startswith("_pytest")
        ]
        assert handlers, name
        for handler in handlers:
            record = logging.LogRecord(
                name,
                logging.INFO,
                __file__,
                1,
                '"GET %s HTTP/1.1" 200',
                (f"/api/sessions/{TOKEN}",),
                None,
            )
            assert TOKEN not in handler.format(record), name


class _Response:
    status = "200 OK"
    headers = [("Content-Type", "application/json")]
    sent = 12


def test_gunicorn_access_log_is_redacted(tmp_path: Path):
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", '%(h)s "%(r)s" %(s)s %(U)s %(q)s "%(f)s" %({x-token}i)s')
    logger = RedactingGunicornLogger(config)
    environ = {
        "REQUEST_METHOD": "PATCH",
        "RAW_URI": f"/api/sessions/{TOKEN}?sessionToken={TOKEN}",
        "PATH_INFO": f"/api/sessions/{TOKEN}",
        "QUERY_STRING": f"sessionToken={TOKEN}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://workshop.example/?sessionToken={TOKEN}",
    }

    logger.access(_Response(), [("X-TOKEN", f"sessionToken={TOKEN}")], environ, dt.timedelta(0, 1))

    line = (tmp_path / "access.log").read_text()
    assert TOKEN not in line
    assert '"PATCH /api/sessions/[redacted]?sessionToken=[redacted] HTTP/1.1" 200' in line


def test_the_procfile_runs_gunicorn_with_the_redacting_logger():
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert "--logger-class workshop.log_redaction.RedactingGunicornLogger" in web
