"""One exception handler for the whole API: every error is
`{"success": false, "error": "<sentence>", "fields": {<field>: [<messages>]}}`.

Domain errors (workshop.errors.ApplicationError) carry their own message and status; DRF's
exceptions (validation, parse, auth, 404, 405, 415, 429) are rendered by DRF's handler, which
keeps headers such as Retry-After and WWW-Authenticate, and then reshaped here. A database
that does not answer (down, restarting, connection lost) is a 503 the client may retry, never
a 500: nothing was written, since every write owns its transaction. Anything unexpected is
logged (without the request body, which may hold secrets) and answered as a JSON 500.
"""

import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from progress.api import messages
from workshop.errors import ApplicationError

logger = logging.getLogger(__name__)

NON_FIELD = "non_field_errors"
# Seconds a client should wait before retrying while the database is unavailable: about what
# a PostgreSQL restart takes.
DATABASE_RETRY_AFTER = 5


_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(text: str) -> str:
    """The message with lone surrogates replaced: a reply is UTF-8, and a message quoting the
    client's input must never carry what cannot be encoded (it would turn a 400 into a 500)."""
    return _SURROGATE.sub("\ufffd", text)


def error_body(message: str, fields: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    return {"success": False, "error": message, "fields": dict(fields or {})}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field": [...], "tools.0.name": [...]}."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, Mapping | list) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {_printable(prefix) or NON_FIELD: [_printable(str(item)) for item in items]}


def _validation_message(fields: dict[str, list[str]]) -> str:
    named = [name for name in fields if name != NON_FIELD]
    if not named:
        return messages.INVALID_INPUT.format(detail=fields[NON_FIELD][0])
    return messages.INVALID_FIELDS.format(fields=", ".join(named), detail=fields[named[0]][0])


def _describe(exc: exceptions.APIException, request) -> tuple[str, dict[str, list[str]]]:
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) or {NON_FIELD: ["Invalid input."]}
        return _validation_message(fields), fields
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return str(exc.detail), {}
    if isinstance(exc, exceptions.MethodNotAllowed):
        return messages.METHOD_NOT_ALLOWED.format(method=request.method), {}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return messages.UNSUPPORTED_MEDIA_TYPE, {}
    if isinstance(exc, exceptions.Throttled):
        return messages.THROTTLED.format(seconds=math.ceil(exc.wait or 1)), {}
    if isinstance(exc, exceptions.NotFound):
        return messages.ROUTE_NOT_FOUND, {}
    detail = exc.detail
    return (str(detail) if not isinstance(detail, list | dict) else exc.default_detail), {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.message, exc.fields), status=exc.status)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("Database unavailable: %s", exc.__class__.__name__)
        set_rollback()
        return Response(
            error_body(messages.DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(messages.BODY_TOO_LARGE), status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "the API")
        set_rollback()
        return Response(
            error_body(messages.INTERNAL_ERROR), status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )
    message, fields = _describe(exc, context["request"])
    response.data = error_body(message, fields)
    return response
