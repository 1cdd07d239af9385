"""Who a legacy row belongs to, and which session it is.

One student per distinct real email (trimmed, lower-cased). Placeholder addresses stand for
real people without an address: each becomes its own anonymous student, keyed on the session
token, so two placeholders are never merged and a re-run finds the same student again.
"""

import hashlib
from datetime import UTC, datetime, timedelta

from workshop.models import anonymous_email, normalize_email

# `unknown@example.com`, `unknown_<token>@example.com`; `anonymous_ws_<ms>` and `student_<ms>`
# have no "@" and are caught by that rule.
PLACEHOLDER_DOMAIN = "@example.com"
PLACEHOLDER_LOCAL_PREFIX = "unknown"
DERIVED_TOKEN_PREFIX = "legacy-"
ANONYMOUS_KEY_PREFIX = "legacy-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_placeholder(email: str | None) -> bool:
    if email is None:
        return True
    value = normalize_email(email)
    if "@" not in value:
        return True
    local, _, domain = value.partition("@")
    return f"@{domain}" == PLACEHOLDER_DOMAIN and (
        local == PLACEHOLDER_LOCAL_PREFIX or local.startswith(f"{PLACEHOLDER_LOCAL_PREFIX}_")
    )


def anonymous_key(session_token: str) -> str:
    """The anonymous student's key: a digest of its session token (one per session)."""
    return ANONYMOUS_KEY_PREFIX + hashlib.md5(session_token.encode()).hexdigest()[:20]


def student_email_for(email: str | None, session_token: str) -> str:
    """The address the migrated student is stored under."""
    if is_placeholder(email):
        return anonymous_email(anonymous_key(session_token))
    return normalize_email(email)


def epoch_ms(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str((moment - _EPOCH) // timedelta(milliseconds=1))


def derived_token(email: str | None, started_at: datetime | None) -> str:
    """A stable token for a legacy row without one: a digest of who and when it started.

    Table rows without `started_at` use their `created_at` (in SQL); backup items have only
    `startedAt`.

    The same formula runs in SQL for the table migration, so a backup file and the table it
    was taken from yield the same tokens and are never imported twice.
    """
    content = f"{normalize_email(email or '')}|{epoch_ms(started_at)}"
    return DERIVED_TOKEN_PREFIX + hashlib.md5(content.encode()).hexdigest()[:24]
