"""THE table of a session's configuration fields: what a student configures (the spec's
workshop configuration, AI configuration and deployment URLs) and legacy data carries.

Everything that lists these fields is built from this table: the PATCH serializer's fields
and the reply (`progress/api/serializers.py`), the OpenAPI schema's session serializer, the
session admin's fieldsets (`workshop/admin.py`), the personal data a student's anonymisation
clears (`analytics/privacy/subject_requests.py`), the writable columns
(`workshop/services.py`) and the legacy import's columns. The model's fields themselves stay
in `workshop/models.py` (the spec fixes them); a test checks each row names a real column.
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"  # free text
    SHORT_TEXT = "short_text"  # a name (provider, voice)
    LONG_TEXT = "long_text"  # the system prompt
    CHOICE = "choice"  # one of `choices`
    PHONE = "phone"  # E.164 phone number
    URL = "url"  # http(s) URL
    WEBSOCKET_URL = "websocket_url"  # ws(s) or http(s) URL
    JSON_LIST = "json_list"  # a list of JSON objects
    JSON_OBJECT = "json_object"  # a JSON object
    SECRET = "secret"  # write-only, stored encrypted, never shown


class Group(StrEnum):
    """Where the session admin shows the field."""

    CONFIGURATION = "Workshop configuration"
    DEPLOYMENT = "Deployment"


@dataclass(frozen=True)
class ConfigField:
    api_name: str  # camelCase, as clients write it (PATCH /api/sessions/<token>)
    column: str  # the sessions column, also the reply's key
    kind: Kind
    # Cleared when a student's data is anonymised: everything the student wrote (free text,
    # URLs, tool definitions, voice settings), not only what names them; the one choice
    # (call direction) stays for the statistics.
    personal: bool
    group: Group
    choices: tuple[str, ...] = ()

    @property
    def is_json(self) -> bool:
        return self.kind in (Kind.JSON_LIST, Kind.JSON_OBJECT)

    @property
    def is_secret(self) -> bool:
        return self.kind is Kind.SECRET

    @property
    def reply_key(self) -> str:
        """The field's key in a session reply: the secret itself is never shown, the reply
        says whether one is set."""
        return f"has_{self.column}" if self.is_secret else self.column


C, D = Group.CONFIGURATION, Group.DEPLOYMENT
# In the order the API, the reply and the admin show them.
SESSION_CONFIG = (
    ConfigField("useCaseDescription", "use_case_description", Kind.TEXT, True, C),
    ConfigField("callDirection", "call_direction", Kind.CHOICE, False, C, ("inbound", "outbound")),
    ConfigField("selectedPhoneNumber", "selected_phone_number", Kind.PHONE, True, C),
    ConfigField("ttsProvider", "tts_provider", Kind.SHORT_TEXT, True, C),
    ConfigField("selectedVoice", "selected_voice", Kind.SHORT_TEXT, True, C),
    ConfigField("openaiApiKey", "openai_api_key", Kind.SECRET, True, C),
    ConfigField("systemPrompt", "system_prompt", Kind.LONG_TEXT, True, C),
    ConfigField("ivrGreeting", "ivr_greeting", Kind.TEXT, True, C),
    ConfigField("tools", "tools", Kind.JSON_LIST, True, C),
    ConfigField("voiceSettings", "voice_settings", Kind.JSON_OBJECT, True, C),
    ConfigField("websocketUrl", "websocket_url", Kind.WEBSOCKET_URL, True, D),
    ConfigField("codespaceUrl", "codespace_url", Kind.URL, True, D),
    ConfigField("githubRepoUrl", "github_repo_url", Kind.URL, True, D),
    ConfigField("railwayUrl", "railway_url", Kind.URL, True, D),
)
del C, D

# The plain text columns (legacy data carries them as they are) and the JSON ones.
TEXT_COLUMNS = tuple(f.column for f in SESSION_CONFIG if not f.is_json and not f.is_secret)
JSON_COLUMNS = tuple(f.column for f in SESSION_CONFIG if f.is_json)
SECRET_COLUMN = next(f.column for f in SESSION_CONFIG if f.is_secret)
PERSONAL_COLUMNS = tuple(f.column for f in SESSION_CONFIG if f.personal)
# Each personal column's cleared value: NULL for text, the column's empty default for JSON.
CLEARED_VALUES = {
    f.column: ([] if f.kind is Kind.JSON_LIST else {} if f.kind is Kind.JSON_OBJECT else None)
    for f in SESSION_CONFIG
    if f.personal
}


def columns_of(group: Group) -> list[str]:
    return [f.column for f in SESSION_CONFIG if f.group is group]
