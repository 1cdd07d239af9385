"""Input and output shapes of the real frontend's own calls (docs/frontend.md).

The frontend is served unchanged, so these read its bodies as it sends them: `""` and null
mean "not set", state flags and fields without a column are ignored, `wss://` URLs are valid
where it sends them. Everything it does send is checked as strictly as the spec's calls: a
wrong type or an oversized value is a 400 naming the field.
"""

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from progress.api.serializers import (
    MAX_SHORT_TEXT,
    MAX_TEXT,
    JSONObjectField,
    SessionConfigurationSerializer,
    StrictCharField,
    StrictIntegerField,
    WebURLField,
    _datetime,
    _json,
    _token_field,
)
from workshop.models import WorkshopSession
from workshop.steps import FIRST_STEP, LAST_STEP

MAX_CONTEXT_BYTES = 2 * 1024
MAX_LOG_BYTES = 16 * 1024
SESSION_LOG_TYPES = ("navigation", "error", "action", "api_call", "state_change")
# The frontend's bug-report `step`: "Step N: <title>", N 1-based.
_STEP_LABEL = re.compile(r"^\s*step\s+(\d+)\b", re.IGNORECASE)
WS_SCHEMES = ("ws", "wss", "http", "https")


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
    """The configuration fields a frontend body sets: the spec's PATCH fields, with ws(s)
    URLs also for the codespace URL (the frontend stores its WebSocket URL there)."""

    websocketUrl = WebURLField(schemes=WS_SCHEMES, required=False, allow_null=True)
    codespaceUrl = WebURLField(schemes=WS_SCHEMES, required=False, allow_null=True)

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


# API names of the configuration a student reads back (never the key: hasOpenaiApiKey).
_READABLE_CONFIGURATION = {
    name: column
    for name, column in SessionConfigurationSerializer.COLUMNS.items()
    if name != "openaiApiKey"
}
_JSON_KINDS = {"tools": list, "voiceSettings": dict}


def configuration_body(session: WorkshopSession) -> dict[str, Any]:
    """student-config-get's `config`: camelCase, the student's name, no secret."""
    body: dict[str, Any] = {
        "sessionToken": session.session_token,
        "studentName": session.student.student_name,
    }
    for name, column in _READABLE_CONFIGURATION.items():
        value = getattr(session, column)
        if name in _JSON_KINDS:
            value = _json(value, _JSON_KINDS[name])
        elif name == "demoMode":
            value = bool(value)
        body[name] = value
    body["hasOpenaiApiKey"] = session.has_openai_api_key
    body["createdAt"] = _datetime(session.created_at)
    body["updatedAt"] = _datetime(session.updated_at)
    return body


class ConfigurationOutputSerializer(serializers.Serializer):
    """For the OpenAPI schema: what configuration_body renders."""

    sessionToken = serializers.CharField()
    studentName = serializers.CharField(allow_null=True)
    useCaseDescription = serializers.CharField(allow_null=True)
    callDirection = serializers.CharField(allow_null=True)
    selectedPhoneNumber = serializers.CharField(allow_null=True)
    ttsProvider = serializers.CharField(allow_null=True)
    selectedVoice = serializers.CharField(allow_null=True)
    systemPrompt = serializers.CharField(allow_null=True)
    ivrGreeting = serializers.CharField(allow_null=True)
    tools = serializers.ListField(child=serializers.DictField())
    voiceSettings = serializers.DictField()
    websocketUrl = serializers.CharField(allow_null=True)
    codespaceUrl = serializers.CharField(allow_null=True)
    githubRepoUrl = serializers.CharField(allow_null=True)
    railwayUrl = serializers.CharField(allow_null=True)
    demoMode = serializers.BooleanField()
    hasOpenaiApiKey = serializers.BooleanField()
    createdAt = serializers.DateTimeField(allow_null=True)
    updatedAt = serializers.DateTimeField(allow_null=True)


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


class FrontendBugReportSerializer(serializers.Serializer):
    """POST /api/report-bug, as the frontend sends it; its email field and client clock are
    not kept."""

    sessionToken = _token_field(required=False, allow_null=True)
    description = StrictCharField(max_length=MAX_TEXT)
    step = StepLabelField(required=False, allow_null=True)
    errorMessage = _text()
    expectedBehavior = _text()
    actualBehavior = _text()
    userName = _text(MAX_SHORT_TEXT)
    browserInfo = _text(1_000)
    pageUrl = PageURLField(required=False, allow_null=True)
    callDirection = _text(MAX_SHORT_TEXT)
    deploymentStatus = CappedJSONObjectField(
        max_bytes=MAX_CONTEXT_BYTES, required=False, allow_null=True
    )

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
