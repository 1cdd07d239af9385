"""Which `studentName` values are names: the real frontend fills the field with a placeholder
or the student's email when it knows no name, and neither may become or replace a name."""

import re

# What the frontend sends when it knows no name (compared trimmed, case-insensitively).
PLACEHOLDER_NAMES = frozenset({"anonymous student"})
_EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+$")


def usable_student_name(name: str | None) -> str | None:
    """The name to store, or None when the value is no name: blank, the frontend's
    placeholder, or an email address."""
    if name is None:
        return None
    name = name.strip()
    if not name or name.casefold() in PLACEHOLDER_NAMES or _EMAIL_LIKE.match(name):
        return None
    return name
