"""The 9-step catalogue of docs/spec/legacy.md."""

import pytest

from workshop.steps import STEPS, TOTAL_STEPS, get_step, step_for_legacy_key, step_title


def test_catalogue_has_nine_steps_numbered_from_one():
    assert TOTAL_STEPS == 9
    assert [step.number for step in STEPS] == list(range(1, 10))
    assert [step.title for step in STEPS] == [
        "Setup",
        "Use Case",
        "Services",
        "Basic TwiML",
        "WebSocket Handler",
        "ConversationRelay",
        "Prompt Engineering",
        "Tools & Functions",
        "Deploy",
    ]


def test_titles_and_long_names():
    assert step_title(3) == "Services"
    assert get_step(9).long_name == "Deploy Your AI Application"
    with pytest.raises(KeyError):
        get_step(0)


@pytest.mark.parametrize(
    ("key", "number"),
    [
        ("step-1-connect-accounts", 1),
        ("connect-accounts", 1),
        ("choose-use-case", 2),
        ("provision-number", 3),
        ("create-basic-twiml", 4),
        ("build-websocket-handler", 5),
        ("create-conversation-relay", 6),
        # Stale names of steps 7 to 9 map by number.
        ("step-7-ai-tools", 7),
        ("add-ai-tools", 7),
        ("step-8-test-call", 8),
        ("test-full-call", 8),
        ("step-9-multichannel", 9),
        ("add-multichannel", 9),
        # Any other key naming step-N or stepN.
        ("step-4-something-new", 4),
        ("step6", 6),
        ("my-step-2", 2),
    ],
)
def test_legacy_keys_map_to_steps(key, number):
    assert step_for_legacy_key(key).number == number


@pytest.mark.parametrize("key", ["unknown", "exercise-x", "step-0", "step-10", "step12", ""])
def test_unmappable_legacy_keys_map_to_nothing(key):
    assert step_for_legacy_key(key) is None
