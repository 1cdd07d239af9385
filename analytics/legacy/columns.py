"""Which legacy tables exist and with which columns: never assumed, always detected.

The production database went through several partial migrations (shapes A, C and D of
`workshop_students`, docs/spec/legacy.md); a missing column reads as its default. Each logical
field lists the columns it may come from, first found wins.
"""

from dataclasses import dataclass

from workshop.session_config import TEXT_COLUMNS

STUDENTS_TABLE = "workshop_students"
SESSIONS_TABLE = "workshop_sessions"
CONFIGS_TABLE = "student_configs"

# Session configuration columns copied as text (shape D and student_configs).
CONFIG_TEXT_FIELDS = TEXT_COLUMNS
JSON_FIELDS = ("exercises", "bug_reports", "tools", "voice_settings")

# Every field read from any legacy table, all staged as text. Twilio secrets (auth_token,
# api_key_secret, twilio_auth_token, ...) are deliberately absent: they are never copied.
FIELDS = (
    "src_key",
    "token",
    "email",
    "name",
    *JSON_FIELDS,
    "started_at",
    "last_activity",
    "created_at",
    "expires_at",
    "demo_mode",
    "openai_api_key",
    "current_step",
    *CONFIG_TEXT_FIELDS,
)

_SHARED = {
    "name": ("student_name",),
    "last_activity": ("last_activity",),
    "created_at": ("created_at",),
    "demo_mode": ("demo_mode", "is_demo_mode"),
    "openai_api_key": ("openai_api_key",),
    "tools": ("tools",),
    "voice_settings": ("voice_settings",),
    **{field: (field,) for field in CONFIG_TEXT_FIELDS},
}

SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    STUDENTS_TABLE: {
        **_SHARED,
        # Shape A is keyed by a serial id, shapes C and D by the token.
        "src_key": ("id", "session_token"),
        "token": ("session_token",),
        # student_email; a row without one may still carry the later `student_id` column.
        "email": ("student_email", "student_id"),
        "exercises": ("exercises",),
        "bug_reports": ("bug_reports",),
        "started_at": ("started_at",),
    },
    SESSIONS_TABLE: {
        **_SHARED,
        "src_key": ("session_id", "session_token"),
        "token": ("session_id", "session_token"),
        "email": ("student_id", "student_email"),
        "started_at": ("created_at",),
        "expires_at": ("expires_at",),
    },
    CONFIGS_TABLE: {
        **_SHARED,
        "src_key": ("session_token",),
        "token": ("session_token",),
        "email": ("student_email",),
        "current_step": ("current_step",),
    },
}

# The session row's fields come from the first source that has them, in this order; the
# configuration fields prefer student_configs, "the best there is" for a session's config.
PRIORITY = {STUDENTS_TABLE: 1, SESSIONS_TABLE: 2, CONFIGS_TABLE: 3}


@dataclass(frozen=True)
class LegacyTable:
    name: str
    columns: frozenset[str]

    def source_columns(self) -> dict[str, list[str]]:
        """For every field, the columns of this table it is read from (empty: default)."""
        return {
            field: [c for c in SOURCES[self.name].get(field, ()) if c in self.columns]
            for field in FIELDS
        }


DETECT_SQL = """
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ANY(%s)
"""


def detect_tables(cursor, names: list[str]) -> list[LegacyTable]:
    """The legacy tables among `names` that exist, in `names` order, with their columns."""
    cursor.execute(DETECT_SQL, [names])
    found: dict[str, set[str]] = {}
    for table, column in cursor.fetchall():
        found.setdefault(table, set()).add(column)
    return [LegacyTable(name, frozenset(found[name])) for name in names if name in found]
