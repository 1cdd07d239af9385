"""Legacy `exercises` JSON: parsing (object or double-encoded string) and key mapping.

Keys map through the step catalogue (workshop.steps.step_for_legacy_key). Old clients also
sent 0-based numbers with a step's long name (`step-0-connect-accounts` is step 1): a number
is read as 0-based only when the name next to it is the long name, title or legacy key of the
step one higher; a name that contradicts the number maps to nothing. Nothing else is guessed.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workshop.steps import STEPS, step_for_legacy_key

# Double-encoding was applied once, sometimes twice; more is not legacy data but garbage.
MAX_DECODE_DEPTH = 3
MAX_INT = 2**31 - 1
_NUMBERED_NAME = re.compile(r"^step[-_]?(\d+)[-_]+(.+)$", re.IGNORECASE)
_NUMERIC = re.compile(r"^\s*\d+(\.\d+)?\s*$")


class UnparsableJSON(ValueError):
    """A legacy JSON value that is not JSON, even after undoing double-encoding."""


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


def parse_legacy_json(raw: Any) -> Any:
    """A legacy JSON column value: already-decoded data, JSON text, or JSON text encoded again
    as a JSON string. None (or blank) stays None, meaning "use the default"."""
    value = raw
    for _ in range(MAX_DECODE_DEPTH + 1):
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise UnparsableJSON(str(exc)) from exc
    raise UnparsableJSON("encoded too many times")


def legacy_int(value: Any) -> int:
    """timeSpent/attempts: a JSON number or numeric string, rounded, within 0..2**31-1."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, str):
        if not _NUMERIC.match(value):
            return 0
        value = float(value)
    if not isinstance(value, int | float):
        return 0
    # SQL's ROUND(numeric) rounds halves away from zero; int(x + 0.5) does that for x >= 0.
    return max(0, min(MAX_INT, int(value + 0.5))) if value >= 0 else 0


def legacy_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def legacy_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class StepEntry:
    """One step of one session, merged from every legacy key that maps to it."""

    step_number: int
    validation_passed: bool = False
    completed_at: datetime | None = None
    time_spent: int = 0
    attempts: int = 0
    started_at: datetime | None = None

    def add(self, value: dict) -> None:
        completed = legacy_bool(value.get("completed"))
        done_at = legacy_timestamp(value.get("timestamp"))
        last = legacy_timestamp(value.get("lastAttempt"))
        if completed:
            self.validation_passed = True
            done_at = done_at or last
            if done_at and (self.completed_at is None or done_at < self.completed_at):
                self.completed_at = done_at
        # Several keys for one step are the same work seen by different clients: add them up.
        self.time_spent = min(MAX_INT, self.time_spent + legacy_int(value.get("timeSpent")))
        self.attempts = min(MAX_INT, self.attempts + legacy_int(value.get("attempts")))
        self._earliest_start(done_at if completed else None, last)

    def merge(self, other: "StepEntry") -> None:
        """The same step from another legacy row of the same session."""
        self.validation_passed = self.validation_passed or other.validation_passed
        if other.completed_at and (
            self.completed_at is None or other.completed_at < self.completed_at
        ):
            self.completed_at = other.completed_at
        self.time_spent = min(MAX_INT, self.time_spent + other.time_spent)
        self.attempts = min(MAX_INT, self.attempts + other.attempts)
        self._earliest_start(other.started_at)

    def _earliest_start(self, *moments: datetime | None) -> None:
        for moment in moments:
            if moment and (self.started_at is None or moment < self.started_at):
                self.started_at = moment


def steps_from_exercises(exercises: dict) -> tuple[dict[int, StepEntry], list[str]]:
    """Step entries by number, and the keys skipped (unmappable, or not an object)."""
    steps: dict[int, StepEntry] = {}
    skipped: list[str] = []
    for key, value in exercises.items():
        number = step_number_for_key(key)
        if number is None or not isinstance(value, dict):
            skipped.append(key)
            continue
        steps.setdefault(number, StepEntry(number)).add(value)
    return steps, skipped
