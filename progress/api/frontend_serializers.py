"""Input and output shapes of the real frontend's own calls (docs/frontend.md).

The frontend is served unchanged, so these read its bodies as it sends them: `""` and null
mean "not set", state flags and fields without a column are ignored, `wss://` URLs are valid
where it sends them. Everything it does send is checked as strictly as the spec's calls: a
wrong type or an oversized value is a 400 naming the field.
"""

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from progress.api.serializers import (
    MAX_SHORT_TEXT,
    MAX_TEXT,
    BugReportSerializer,
    JSONObjectField,
    SessionConfigurationSerializer,
    StrictCharField,
    StrictIntegerField,
    WebURLField,
    _configuration_input,
    _configuration_output,
    _token_field,
)
from workshop.formatting import iso_z
from workshop.models import WorkshopSession, stored_json
from workshop.session_config import SESSION_CONFIG, Kind
from workshop.steps import FIRST_STEP, LAST_STEP

MAX_CONTEXT_BYTES = 2 * 1024
MAX_LOG_BYTES = 16 * 1024
SESSION_LOG_TYPES = ("navigation", "error", "action", "api_call", "state_change")
# The frontend's bug-report `step`: "Step N: <title>", N 1-based.
_STEP_LABEL = re.compile(r"^\s*step\s+(\d+)\b", re.IGNORECASE)


class CappedJSONObjectField(JSONObjectField):
    """A JSON object of at most `max_bytes` once written as JSON."""

    def __init__(self, *, max_bytes: int, **kwargs: Any) -> None:
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict:
        value = super().to_internal_value(data)
        if len(json.dumps(value, ensure_ascii=False).encode()) > self.max_bytes:
            raise serializers.ValidationError(
                f"Ensure this object is at most {self.max_bytes // 1024} KB as JSON."
            )
        return value


def _text(max_length: int = MAX_TEXT) -> StrictCharField:
    return StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=max_length)


def _blank_to_none(attrs: dict) -> dict:
    return {name: (None if value == "" else value) for name, value in attrs.items()}


# --------------------------------------------------------------------------------------------
# Configuration: generate-session, student-config-save, student-config-update
# --------------------------------------------------------------------------------------------
class SessionTokenSerializer(serializers.Serializer):
    sessionToken = _token_field()


class FrontendConfigurationSerializer(SessionConfigurationSerializer):
    """The configuration fields a frontend body sets: the spec's PATCH fields (built from
    workshop.session_config), except that the codespace URL also takes ws(s) URLs: the
    frontend stores its WebSocket URL there."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["codespaceUrl"] = _configuration_input(
            replace(CONFIG_BY_API_NAME["codespaceUrl"], kind=Kind.WEBSOCKET_URL)
        )
        return fields

    def validate(self, attrs: dict) -> dict:
        # A save that sets nothing is still a save (the frontend sends state flags only).
        return attrs


def configuration_changes(body: Any) -> dict[str, Any]:
    """The column -> value changes a student-config-save/update body asks for.

    Only configuration fields count; a field sent as "" or null is "not set" and leaves the
    stored value alone (a stale tab must not wipe a prompt saved from another one), and
    every other key (state flags, identity, Twilio credentials) is ignored."""
    if not isinstance(body, dict):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    names = FrontendConfigurationSerializer.COLUMNS
    data = {
        name: value for name, value in body.items() if name in names and value not in ("", None)
    }
    serializer = FrontendConfigurationSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.changes()


CONFIG_BY_API_NAME = {field.api_name: field for field in SESSION_CONFIG}
# The secret is never read back: the reply says whether one is set.
SECRET_FLAG = "hasOpenaiApiKey"


def configuration_body(session: WorkshopSession) -> dict[str, Any]:
    """student-config-get's `config`: camelCase, the student's name, no secret."""
    body: dict[str, Any] = {
        "sessionToken": session.session_token,
        "studentName": session.student.student_name,
    }
    for field in SESSION_CONFIG:
        value = getattr(session, field.column)
        if field.is_secret:
            body[SECRET_FLAG] = bool(value)
            continue
        if field.kind is Kind.JSON_LIST:
            value = stored_json(value, list)
        elif field.kind is Kind.JSON_OBJECT:
            value = stored_json(value, dict)
        body[field.api_name] = value
    body["demoMode"] = bool(session.demo_mode)
    body["createdAt"] = iso_z(session.created_at)
    body["updatedAt"] = iso_z(session.updated_at)
    return body


class ConfigurationOutputSerializer(serializers.Serializer):
    """For the OpenAPI schema: what configuration_body renders."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields: dict[str, serializers.Field] = {
            "sessionToken": serializers.CharField(),
            "studentName": serializers.CharField(allow_null=True),
        }
        for field in SESSION_CONFIG:
            name = SECRET_FLAG if field.is_secret else field.api_name
            fields[name] = _configuration_output(field)
        fields["demoMode"] = serializers.BooleanField()
        fields["createdAt"] = serializers.DateTimeField(allow_null=True)
        fields["updatedAt"] = serializers.DateTimeField(allow_null=True)
        return fields


# --------------------------------------------------------------------------------------------
# report-bug, submit-feedback, session-log
# --------------------------------------------------------------------------------------------
@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "Step 3: Services"},
            {"type": "integer", "minimum": FIRST_STEP, "maximum": LAST_STEP},
        ]
    }
)
class StepLabelField(serializers.Field):
    """The frontend's "Step N: <title>" (N 1-based), or the number itself."""

    default_error_messages = {"invalid": 'Use "Step N: <title>" or a number, N from 1 to 9.'}

    def to_internal_value(self, data: Any) -> int:
        number = None
        if isinstance(data, int) and not isinstance(data, bool):
            number = data
        elif isinstance(data, str) and (match := _STEP_LABEL.match(data)):
            number = int(match.group(1))
        if number is None or not FIRST_STEP <= number <= LAST_STEP:
            self.fail("invalid")
        return number

    def to_representation(self, value: int) -> int:
        return value


class PageURLField(WebURLField):
    """The page the report came from, without its query string or fragment: an invitation
    link carries the student's email and name there."""

    def to_internal_value(self, data: Any) -> str:
        parts = urlsplit(super().to_internal_value(data))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# The spec's bug report (its fields, their limits, the whole report's BUG_REPORT_MAX_BYTES)
# with the frontend's own step label and page URL, and its extra fields.
class FrontendBugReportSerializer(BugReportSerializer):
    """POST /api/report-bug, as the frontend sends it; its email field and client clock are
    not kept."""

    sessionToken = _token_field(required=False, allow_null=True)
    step = StepLabelField(required=False, allow_null=True)
    userName = _text(MAX_SHORT_TEXT)
    pageUrl = PageURLField(required=False, allow_null=True)
    callDirection = _text(MAX_SHORT_TEXT)
    deploymentStatus = CappedJSONObjectField(
        max_bytes=MAX_CONTEXT_BYTES, required=False, allow_null=True
    )

    # The order the fields had before they were shared: the OpenAPI document and the field
    # order of an error reply stay as they were.
    FIELD_ORDER = (
        "sessionToken",
        "description",
        "step",
        "errorMessage",
        "expectedBehavior",
        "actualBehavior",
        "userName",
        "browserInfo",
        "pageUrl",
        "callDirection",
        "deploymentStatus",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {name: fields[name] for name in self.FIELD_ORDER}

    def report(self) -> dict[str, Any]:
        """The report as stored: the fields given, the reporter's name as reporterName."""
        data = _blank_to_none(dict(self.validated_data))
        data.pop("sessionToken", None)
        data["reporterName"] = data.pop("userName", None)
        return {name: value for name, value in data.items() if value is not None}


class FeedbackSerializer(serializers.Serializer):
    """POST /api/submit-feedback. The frontend sends no token; one may be given."""

    sessionToken = _token_field(required=False, allow_null=True)
    message = StrictCharField(max_length=MAX_TEXT)
    rating = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=5,
        help_text="1 to 5; 0 or null: the student gave no rating.",
    )
    name = _text(MAX_SHORT_TEXT)
    completedSteps = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=20)
    context = CappedJSONObjectField(max_bytes=MAX_CONTEXT_BYTES, required=False, allow_null=True)

    def step_number(self) -> int | None:
        """The step the student was on (the frontend's context.currentStep is 1-based)."""
        step = (self.validated_data.get("context") or {}).get("currentStep")
        if isinstance(step, int) and not isinstance(step, bool) and FIRST_STEP <= step <= LAST_STEP:
            return step
        return None

    def feedback(self) -> dict[str, Any]:
        data = _blank_to_none(dict(self.validated_data))
        data.pop("sessionToken", None)
        data["rating"] = data.get("rating") or None
        return {
            name: value for name, value in data.items() if value is not None or name == "rating"
        }


class SessionLogSerializer(serializers.Serializer):
    """POST /api/session-log."""

    sessionToken = _token_field()
    eventType = serializers.ChoiceField(choices=SESSION_LOG_TYPES)
    eventData = CappedJSONObjectField(max_bytes=MAX_LOG_BYTES, required=False, default=dict)


# --------------------------------------------------------------------------------------------
# get-student-ai-settings
# --------------------------------------------------------------------------------------------
class AISettingsOutputSerializer(serializers.Serializer):
    sessionToken = serializers.CharField()
    openaiApiKey = serializers.CharField(allow_null=True)
    systemPrompt = serializers.CharField(allow_null=True)
    greeting = serializers.CharField(allow_null=True)
    voice = serializers.CharField(allow_null=True)
    tools = serializers.ListField(child=serializers.DictField())
