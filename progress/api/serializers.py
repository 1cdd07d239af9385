"""Input validation and output shapes of the progress API.

Inputs are strict: a string field takes only strings, a number only integers, a boolean only
true/false, so a wrong type is a 400 naming the field rather than a silent conversion. Text
that PostgreSQL cannot store (NUL characters, lone surrogates) is refused here too.

Outputs are rendered by plain functions (fast, and exact about nulls); the output serializers
exist so the OpenAPI schema describes those shapes, and delegate to the same functions.
"""

import json
import math
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator, URLValidator
from rest_framework import serializers

from progress.api import messages
from progress.api.tokens import TOKEN_PATTERN
from progress.replies import session_body, shared_step_entry
from workshop.formatting import iso_z
from workshop.models import (
    ANONYMOUS_EMAIL_DOMAIN,
    WorkshopSession,
    normalize_email,
)
from workshop.session_config import SESSION_CONFIG, ConfigField, Kind
from workshop.steps import FIRST_STEP, LAST_STEP, StepMismatch, resolve_step, step_for_name

E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
MAX_CODE_BYTES = 100 * 1024
MAX_TIME_SPENT = 86_400
MAX_SYSTEM_PROMPT = 20_000
MAX_TEXT = 5_000
MAX_SHORT_TEXT = 200
MAX_URL = 2_048
MAX_JSON_DEPTH = 10


# --------------------------------------------------------------------------------------------
# Strict fields
# --------------------------------------------------------------------------------------------
def _storable(text: str) -> bool:
    """Whether PostgreSQL can store the text: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class StrictCharField(serializers.CharField):
    default_error_messages = {"unstorable": "Must be text without NUL or unpaired surrogates."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not _storable(data):
            self.fail("unstorable")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A choice among strings whose error lists the choices and never echoes the input."""

    def __init__(self, choices: list[str], **kwargs: Any) -> None:
        super().__init__(choices, **kwargs)
        self.error_messages["invalid_choice"] = f"Must be one of: {', '.join(choices)}."

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data not in self.choices:
            self.fail("invalid_choice")
        return data


class StrictEmailField(serializers.EmailField):
    default_error_messages = {"reserved": "This address is reserved for anonymous students."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        email = super().to_internal_value(data)
        # Placeholders mark students as anonymous (and claimable): nobody may pose as one.
        if normalize_email(email).endswith(f"@{ANONYMOUS_EMAIL_DOMAIN}"):
            self.fail("reserved")
        return email


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class TruthyBooleanField(serializers.BooleanField):
    """true/false, or a string as the real frontend sends one (JavaScript's truthiness: a
    non-empty string is true). Numbers, lists and objects are refused."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, str):
            return data != ""
        self.fail("invalid")


class WebURLField(StrictCharField):
    """An absolute http(s) URL (or ws(s) where asked for), at most 2,048 characters."""

    def __init__(self, *, schemes: tuple[str, ...] = ("http", "https"), **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_URL)
        super().__init__(**kwargs)
        self.validators.append(
            URLValidator(schemes=list(schemes), message=f"Enter a valid {'/'.join(schemes)} URL.")
        )


def _check_json(value: Any, depth: int = 0) -> None:
    """JSON that PostgreSQL's jsonb accepts: finite numbers, storable text, bounded depth."""
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, float) and not math.isfinite(value):
        raise serializers.ValidationError("Numbers must be finite.")
    if isinstance(value, str) and not _storable(value):
        raise serializers.ValidationError("Text must not contain NUL or unpaired surrogates.")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


class JSONObjectField(serializers.DictField):
    def to_internal_value(self, data: Any) -> dict:
        value = super().to_internal_value(data)
        _check_json(value)
        return value


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def _token_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(
        min_length=8,
        max_length=128,
        validators=[
            RegexValidator(TOKEN_PATTERN, message="Use 8 to 128 letters, digits, '_' or '-'.")
        ],
        **kwargs,
    )


def _blank_to_none(data: dict, *names: str) -> dict:
    for name in names:
        if name in data and data[name] in ("", None):
            data[name] = None
    return data


STEP_UPDATE_FIELDS = ("stepName", "completed", "timeSpent", "codeSubmitted", "deploymentUrl")


class FieldsBoundOnce(serializers.Serializer):
    """An input serializer whose fields are built and bound once per class, not per request.

    DRF deep-copies every declared field (re-running each field's __init__ and validators'
    set-up) for every serializer instance: a tenth of the CPU of the API's hottest calls. The
    fields of the subclasses below are plain leaf fields: validating does not change them, and
    they read nothing of their parent serializer but `partial` and `context`, which these
    serializers never use (refused below), so one bound set serves every request.
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get("partial") or kwargs.get("context"):
            raise TypeError(f"{type(self).__name__} takes neither partial nor context")
        super().__init__(*args, **kwargs)

    @property
    def fields(self):
        cls = type(self)
        bound = cls.__dict__.get("_fields_bound_once")
        if bound is None:
            bound = super().fields
            cls._fields_bound_once = bound
        return bound


class ProgressLookupSerializer(FieldsBoundOnce):
    """GET /api/student-progress: exactly one of the three lookups."""

    sessionToken = _token_field(required=False)
    studentId = serializers.UUIDField(required=False)
    studentEmail = StrictEmailField(required=False, max_length=254)

    def validate(self, attrs: dict) -> dict:
        if len(attrs) != 1:
            raise serializers.ValidationError(messages.ONE_LOOKUP_PARAMETER)
        return attrs


class ProgressUpdateSerializer(FieldsBoundOnce):
    """POST /api/student-progress, the legacy frontend's body."""

    sessionToken = _token_field()
    studentEmail = StrictEmailField(
        required=False, allow_null=True, allow_blank=True, max_length=254
    )
    studentName = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_SHORT_TEXT
    )
    demoMode = StrictBooleanField(required=False, allow_null=True)
    stepNumber = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=FIRST_STEP - 1,
        max_value=LAST_STEP,
        help_text=(
            "1 to 9; with a known stepName (the catalogue's names, the real frontend's "
            "titles, the legacy slugs) the name decides the step and the number may also be "
            "its 0-based index."
        ),
    )
    stepName = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_SHORT_TEXT
    )
    completed = TruthyBooleanField(
        required=False, allow_null=True, help_text="A non-empty string counts as true."
    )
    timeSpent = StrictIntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_TIME_SPENT
    )
    codeSubmitted = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_CODE_BYTES,
        help_text="At most 100 KB (UTF-8).",
    )
    deploymentUrl = WebURLField(required=False, allow_null=True)

    def validate_codeSubmitted(self, value: str | None) -> str | None:
        if value is not None and len(value.encode("utf-8")) > MAX_CODE_BYTES:
            raise serializers.ValidationError("Ensure this field has no more than 100 KB.")
        return value

    def validate(self, attrs: dict) -> dict:
        attrs = _blank_to_none(attrs, "studentEmail", "studentName", "stepName")
        given = [name for name in STEP_UPDATE_FIELDS if attrs.get(name) is not None]
        if given and attrs.get("stepNumber") is None:
            raise serializers.ValidationError({"stepNumber": [messages.STEP_FIELDS_WITHOUT_STEP]})
        if attrs.get("stepNumber") is not None:
            attrs["stepNumber"], attrs["stepName"] = _resolved_step(
                attrs["stepNumber"], attrs.get("stepName")
            )
        return attrs


def _resolved_step(number: int, name: str | None) -> tuple[int, str | None]:
    """The step's 1-based number and the name to store (workshop.steps.resolve_step): the
    catalogue's title for a known name, the client's own name otherwise."""
    try:
        step = resolve_step(number=number, name=name)
    except StepMismatch as error:
        raise serializers.ValidationError({"stepNumber": [str(error)]}) from None
    except KeyError:
        raise serializers.ValidationError(
            {"stepNumber": [f"Ensure this value is greater than or equal to {FIRST_STEP}."]}
        ) from None
    return step.number, (step.title if step_for_name(name) else name)


class SessionCreateSerializer(serializers.Serializer):
    """POST /api/sessions."""

    studentEmail = StrictEmailField(
        required=False, allow_null=True, allow_blank=True, max_length=254
    )
    studentName = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_SHORT_TEXT
    )
    demoMode = StrictBooleanField(required=False, default=False)

    def validate(self, attrs: dict) -> dict:
        return _blank_to_none(attrs, "studentEmail", "studentName")


def _optional_text(max_length: int = MAX_TEXT, **kwargs: Any) -> StrictCharField:
    return StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=max_length, **kwargs
    )


def _configuration_input(field: ConfigField) -> serializers.Field:
    """The PATCH field for one row of workshop.session_config: its kind decides the checks."""
    match field.kind:
        case Kind.TEXT:
            return _optional_text()
        case Kind.SHORT_TEXT:
            return _optional_text(MAX_SHORT_TEXT)
        case Kind.LONG_TEXT:
            return _optional_text(MAX_SYSTEM_PROMPT)
        case Kind.CHOICE:
            return StrictChoiceField(list(field.choices), required=False, allow_null=True)
        case Kind.PHONE:
            return serializers.RegexField(
                E164_PATTERN,
                required=False,
                allow_null=True,
                error_messages={"invalid": "Use the E.164 format, such as +14155550123."},
            )
        case Kind.SECRET:
            return StrictCharField(
                required=False,
                allow_null=True,
                write_only=True,
                min_length=1,
                max_length=500,
                help_text="Write-only: stored encrypted, never returned. null clears it.",
            )
        case Kind.JSON_LIST:
            return serializers.ListField(child=JSONObjectField(), required=False, max_length=100)
        case Kind.JSON_OBJECT:
            return JSONObjectField(required=False)
        case Kind.WEBSOCKET_URL:
            return WebURLField(
                schemes=("ws", "wss", "http", "https"), required=False, allow_null=True
            )
        case Kind.URL:
            return WebURLField(required=False, allow_null=True)
    raise ValueError(f"No input field for {field.kind}")


class SessionConfigurationSerializer(serializers.Serializer):
    """PATCH /api/sessions/<token>: any subset of the configuration, camelCase."""

    # API name -> column: the configuration table's rows, and the demo-mode flag.
    COLUMNS = {**{f.api_name: f.column for f in SESSION_CONFIG}, "demoMode": "demo_mode"}

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {f.api_name: _configuration_input(f) for f in SESSION_CONFIG}
        fields["demoMode"] = StrictBooleanField(required=False)
        return fields

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(messages.NO_CONFIGURATION_FIELDS)
        return attrs

    def changes(self) -> dict[str, Any]:
        """The validated fields as column -> value."""
        return {self.COLUMNS[name]: value for name, value in self.validated_data.items()}


# The frontend's report-bug extends it (frontend_serializers.FrontendBugReportSerializer): one
# set of fields and limits for every bug report, whichever call brings it. (The docstrings are
# the OpenAPI descriptions.)
class BugReportSerializer(serializers.Serializer):
    """POST /api/sessions/<token>/bug-reports."""

    description = StrictCharField(max_length=MAX_TEXT)
    step = StrictIntegerField(
        required=False, allow_null=True, min_value=FIRST_STEP, max_value=LAST_STEP
    )
    errorMessage = _optional_text()
    expectedBehavior = _optional_text()
    actualBehavior = _optional_text()
    pageUrl = WebURLField(required=False, allow_null=True)
    browserInfo = _optional_text(1_000)

    def validate(self, attrs: dict) -> dict:
        # Each field has its own limit; the report as a whole has BUG_REPORT_MAX_BYTES, named
        # on its largest field (what to shorten).
        limit = settings.BUG_REPORT_MAX_BYTES
        size = len(json.dumps(attrs, ensure_ascii=False).encode("utf-8"))
        if size > limit:
            largest = max(attrs, key=lambda name: len(str(attrs[name]).encode("utf-8")))
            raise serializers.ValidationError(
                {largest: [f"The report takes {size} bytes; at most {limit} bytes are kept."]}
            )
        return attrs


class DeploymentSerializer(serializers.Serializer):
    """POST /api/sessions/<token>/deployments."""

    stepNumber = StrictIntegerField(min_value=FIRST_STEP, max_value=LAST_STEP)
    url = WebURLField()
    success = StrictBooleanField()
    error = _optional_text()


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------
def display_name(name: str | None) -> str | None:
    """The name a public share link shows: the first name and the last name's initial
    ("Ada L."); nothing for a missing name or one that looks like an email."""
    parts = (name or "").split()
    if not parts or "@" in name:
        return None
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]} {parts[-1][0]}."


def shared_session_body(session: WorkshopSession) -> dict[str, Any]:
    """A session as the public share link (?studentId=) shows it: progress only. No email,
    token, configuration, deployment URLs or bug reports."""
    return {
        "display_name": display_name(session.student.student_name),
        "started_at": iso_z(session.started_at),
        "last_activity": iso_z(session.last_activity),
        "is_active": bool(session.is_active),
        "current_step": session.current_step or 0,
        "completion_rate": session.completion_rate or 0,
        "total_time_spent": session.total_time_spent or 0,
        "step_progress": [shared_step_entry(step) for step in session.steps.all()],
    }


def _text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(allow_null=True, **kwargs)


def _configuration_output(field: ConfigField) -> serializers.Field:
    if field.is_secret:
        return serializers.BooleanField()
    if field.kind is Kind.JSON_LIST:
        return serializers.ListField(child=serializers.DictField())
    if field.kind is Kind.JSON_OBJECT:
        return serializers.DictField()
    return _text()


class StepEntrySerializer(serializers.Serializer):
    stepNumber = serializers.IntegerField(min_value=FIRST_STEP, max_value=LAST_STEP)
    stepName = serializers.CharField()
    completed = serializers.BooleanField()
    startedAt = serializers.DateTimeField(allow_null=True)
    completedAt = serializers.DateTimeField(allow_null=True)
    timeSpent = serializers.IntegerField()
    attempts = serializers.IntegerField()
    deploymentUrl = _text()


class SharedStepSerializer(serializers.Serializer):
    stepNumber = serializers.IntegerField(min_value=FIRST_STEP, max_value=LAST_STEP)
    stepName = serializers.CharField()
    completed = serializers.BooleanField()
    startedAt = serializers.DateTimeField(allow_null=True)
    completedAt = serializers.DateTimeField(allow_null=True)
    timeSpent = serializers.IntegerField()


class SharedSessionSerializer(serializers.Serializer):
    """A session as the public share link (?studentId=) shows it: progress only."""

    display_name = _text(help_text='First name and last initial ("Ada L."), or null.')
    started_at = serializers.DateTimeField(allow_null=True)
    last_activity = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    current_step = serializers.IntegerField()
    completion_rate = serializers.IntegerField()
    total_time_spent = serializers.IntegerField()
    step_progress = SharedStepSerializer(many=True)

    def to_representation(self, instance: WorkshopSession) -> dict[str, Any]:
        return shared_session_body(instance)


class SessionSerializer(serializers.Serializer):
    """A session as its token holder sees it (and instructors, who always see the student)."""

    session_token = serializers.CharField()
    student_id = serializers.UUIDField(
        allow_null=True,
        help_text="null unless this session created the student, or the student is anonymous "
        "(an email is a claim, not a proof); instructors always see it.",
    )
    student_email = _text(help_text="null for anonymous students")
    student_name = _text(help_text="null where student_id is")
    started_at = serializers.DateTimeField(allow_null=True)
    last_activity = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    demo_mode = serializers.BooleanField()
    current_step = serializers.IntegerField()
    total_time_spent = serializers.IntegerField()
    completion_rate = serializers.IntegerField()
    bug_reports = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    step_progress = StepEntrySerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        # The configuration, from its table, after the totals: where session_body puts it.
        fields = {}
        for name, field in super().get_fields().items():
            fields[name] = field
            if name == "completion_rate":
                fields.update({f.reply_key: _configuration_output(f) for f in SESSION_CONFIG})
        return fields

    def to_representation(self, instance: WorkshopSession) -> dict[str, Any]:
        return session_body(instance)
