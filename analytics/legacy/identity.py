"""Who a legacy row belongs to, and which session it is (applied in SQL by
analytics.legacy.migration: `_PLACEHOLDER`, `_DERIVED`, SESSIONS_SQL).

One student per distinct real email (trimmed, lower-cased). Placeholder addresses stand for
real people without an address: each becomes its own anonymous student, keyed on a digest of
the session token, so two placeholders are never merged and a re-run finds the same student
again. A row without a token gets a stable one derived from who and when it started, the same
for a table row and a backup item, so neither is ever imported twice.
"""

# `unknown@example.com`, `unknown_<token>@example.com`; `anonymous_ws_<ms>` and `student_<ms>`
# have no "@" and are caught by that rule.
PLACEHOLDER_DOMAIN = "example.com"
PLACEHOLDER_LOCAL_PREFIX = "unknown"
DERIVED_TOKEN_PREFIX = "legacy-"
ANONYMOUS_KEY_PREFIX = "legacy-"
