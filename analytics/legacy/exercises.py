"""Legacy `exercises` keys: which step each stands for (the JSON itself is parsed in SQL by
analytics.legacy.migration, with the limits below).

Keys map through the step catalogue (workshop.steps.step_for_legacy_key). Old clients also
sent 0-based numbers with a step's long name (`step-0-connect-accounts` is step 1): a number
is read as 0-based only when the name next to it is the long name, title or legacy key of the
step one higher; a name that contradicts the number maps to nothing. Nothing else is guessed.
"""

import re

from workshop.steps import STEPS, step_for_legacy_key

# Double-encoding was applied once, sometimes twice; more is not legacy data but garbage.
MAX_DECODE_DEPTH = 3
MAX_INT = 2**31 - 1
_NUMBERED_NAME = re.compile(r"^step[-_]?(\d+)[-_]+(.+)$", re.IGNORECASE)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _names_of(step) -> set[str]:
    names = {_slug(step.long_name), _slug(step.title)}
    for key in step.legacy_keys:
        names.add(key)
        names.add(re.sub(r"^step-\d+-", "", key))
    return names


_STEP_BY_NAME = {name: step.number for step in STEPS for name in _names_of(step)}


def step_number_for_key(key: str) -> int | None:
    """The 1-based step a legacy exercise key stands for, or None (skip and report it)."""
    match = _NUMBERED_NAME.match(key.strip())
    if match is not None:
        number, named = int(match.group(1)), _STEP_BY_NAME.get(_slug(match.group(2)))
        if named is not None:
            # The name decides between 1-based and 0-based; a contradiction is not guessed.
            return named if number in (named, named - 1) else None
    step = step_for_legacy_key(key)
    return None if step is None else step.number
