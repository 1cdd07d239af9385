"""The 9-step workshop catalogue (docs/spec/legacy.md): the one place every other part reads
it from.

Steps are numbered 1 to 9, as in the spec's examples and the API.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    number: int
    title: str  # what the frontend shows and sends as `stepName`
    long_name: str
    legacy_keys: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step(1, "Setup", "Connect Accounts", ("step-1-connect-accounts", "connect-accounts")),
    Step(2, "Use Case", "Choose Use Case", ("step-2-choose-use-case", "choose-use-case")),
    Step(3, "Services", "Provision Services", ("step-3-provision-services", "provision-number")),
    Step(4, "Basic TwiML", "Basic TwiML Handler", ("step-4-basic-twiml", "create-basic-twiml")),
    Step(
        5,
        "WebSocket Handler",
        "WebSocket Handler (Media Streams)",
        ("step-5-websocket-handler", "build-websocket-handler"),
    ),
    Step(
        6,
        "ConversationRelay",
        "ConversationRelay (Upgrade to AI)",
        ("step-6-conversation-relay", "create-conversation-relay"),
    ),
    # The legacy keys of steps 7 to 9 carry stale names: they are mapped by number.
    Step(7, "Prompt Engineering", "Custom AI Prompt", ("step-7-ai-tools", "add-ai-tools")),
    Step(8, "Tools & Functions", "Tools & Functions", ("step-8-test-call", "test-full-call")),
    Step(
        9,
        "Deploy",
        "Deploy Your AI Application",
        ("step-9-multichannel", "add-multichannel"),
    ),
)

TOTAL_STEPS = len(STEPS)
FIRST_STEP = STEPS[0].number
LAST_STEP = STEPS[-1].number

_BY_NUMBER = {step.number: step for step in STEPS}
_BY_LEGACY_KEY = {key: step for step in STEPS for key in step.legacy_keys}
# "step-7", "step7", "my-step-3-thing": the number after "step" with an optional dash.
_NUMBERED_KEY = re.compile(r"step-?(\d+)", re.IGNORECASE)

STEP_CHOICES = [(step.number, f"{step.number}. {step.title}") for step in STEPS]


def get_step(number: int) -> Step:
    """The step with this 1-based number; KeyError when there is none."""
    return _BY_NUMBER[number]


def step_title(number: int) -> str:
    return _BY_NUMBER[number].title


def step_for_legacy_key(key: str) -> Step | None:
    """The step a legacy exercise key stands for, or None when it maps to nothing.

    Known keys map by the catalogue; any other key containing `step-N` or `stepN` maps to N
    when 1 <= N <= 9. Nothing else is guessed.
    """
    if key in _BY_LEGACY_KEY:
        return _BY_LEGACY_KEY[key]
    match = _NUMBERED_KEY.search(key)
    if match is None:
        return None
    return _BY_NUMBER.get(int(match.group(1)))


# The real frontend's own titles for its 0-based steps (what it sends as `stepName` with
# `stepNumber` 0 to 8): mostly the catalogue's long names, plus its own name for step 9.
CLIENT_TITLES: tuple[str, ...] = (
    "Connect Accounts",
    "Choose Use Case",
    "Provision Services",
    "Basic TwiML",
    "WebSocket Handler",
    "ConversationRelay",
    "Custom AI Prompt",
    "Tools & Functions",
    "Final Deployment",
)


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


# Every name a client may send for a step: the catalogue's titles and long names, the real
# frontend's titles and the legacy slugs. None of them names two steps (a test checks it).
_BY_NAME: dict[str, Step] = {
    _name_key(name): step
    for step, client_title in zip(STEPS, CLIENT_TITLES, strict=True)
    for name in (step.title, step.long_name, client_title, *step.legacy_keys)
}


class StepMismatch(ValueError):
    """A known step name and a step number that fits it in neither numbering."""


def step_for_name(name: str | None) -> Step | None:
    """The step a known name stands for (trimmed, case-insensitive), or None."""
    if not name:
        return None
    return _BY_NAME.get(_name_key(name))


def resolve_step(*, number: int, name: str | None) -> Step:
    """THE rule deciding which step an update is about.

    A known name decides: the catalogue's names, the real frontend's titles and the legacy
    slugs. The number must then fit it as the spec's 1-based number or as the frontend's
    0-based index (StepMismatch otherwise). With no known name, the number is the spec's
    1-based number (KeyError when there is no such step).
    """
    step = step_for_name(name)
    if step is None:
        return get_step(number)
    if number not in (step.number, step.number - 1):
        raise StepMismatch(f"stepNumber {number} does not match step {step.number}, {name!r}.")
    return step
