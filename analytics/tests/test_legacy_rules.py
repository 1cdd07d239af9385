"""The legacy data rules (analytics.legacy): the key catalogue and secrets in Python, the\nparsers, placeholder rule and token derivation of the SQL pipeline on PostgreSQL."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from analytics.legacy import migration
from analytics.legacy.exercises import step_number_for_key
from analytics.legacy.migration import create_staging
from analytics.legacy.secrets import (
    DECRYPTED_LEGACY,
    DROPPED_NO_LEGACY_KEY,
    DROPPED_UNDECRYPTABLE,
    ENCRYPTED_PLAINTEXT,
    InvalidLegacyKey,
    convert_legacy_secret,
    parse_legacy_key,
)
from analytics.tests.legacy_tables import LEGACY_KEY_HEX, derived_token, legacy_ciphertext
from workshop.crypto import decrypt_secret


@pytest.mark.parametrize(
    ("key", "number"),
    [
        ("step-1-connect-accounts", 1),
        ("provision-number", 3),
        ("step-7-ai-tools", 7),  # stale names: by number
        ("add-multichannel", 9),
        ("step5", 5),
        ("my-step-3-thing", 3),
        ("step-0-connect-accounts", 1),  # 0-based with the long name
        ("step-6-custom-ai-prompt", 7),
        ("step-8-deploy-your-ai-application", 9),
        ("step-3-basic-twiml-handler", 4),
        ("step-4-basic-twiml", 4),  # 1-based with the legacy name
        ("step-2-deploy", None),  # the name contradicts the number: not guessed
        ("step-0", None),
        ("step-10", None),
        ("unknown", None),
        ("exercise-x", None),
    ],
)
def test_legacy_keys_map_to_steps_or_nothing(key, number):
    assert step_number_for_key(key) == number


def _sql(expression: str, *params):
    """Evaluate one of the pipeline's SQL parsers (they live in the pg_temp schema)."""
    with connection.cursor() as cursor:
        create_staging(cursor)
        cursor.execute(f"SELECT {expression}", params)
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"a": 1}', {"a": 1}),
        (json.dumps(json.dumps({"a": 1})), {"a": 1}),
        ('"[]"', []),
        (None, None),
        ("  ", None),
    ],
)
def test_legacy_json_is_parsed_through_double_encoding(raw, parsed):
    assert json.loads(_sql("pg_temp.legacy_json(%s)::text", raw)) == parsed


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw", ["{nope", '"{nope"', json.dumps(json.dumps(json.dumps(json.dumps("[]"))))]
)
def test_unparsable_legacy_json_is_null(raw):
    assert _sql("pg_temp.legacy_json(%s) IS NULL", raw) is True


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "number"),
    [
        (12, 12),
        (12.5, 13),
        ("30", 30),
        (" 7.4 ", 7),
        (-5, 0),
        ("x", 0),
        (True, 0),
        (None, 0),
        (10**12, 2**31 - 1),
    ],
)
def test_legacy_numbers_are_rounded_and_clamped(value, number):
    assert _sql("pg_temp.legacy_int(%s::jsonb)", json.dumps(value)) == number


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "placeholder"),
    [
        ("ann@example.org", False),
        ("unknown@example.com", True),
        ("Unknown_ws_123@Example.com", True),
        ("unknownperson@example.com", False),
        ("anonymous_ws_1709283600000", True),
        ("student_1709283600000", True),
        ("", True),
        (None, True),
    ],
)
def test_placeholder_addresses(email, placeholder):
    placeholder_sql = migration._PLACEHOLDER.replace("%", "%%")  # LIKE's % is not a parameter
    expression = f"{placeholder_sql} FROM (SELECT %s::text AS email) r"
    assert _sql(expression, email) is placeholder


@pytest.mark.postgres
@pytest.mark.django_db
def test_derived_tokens_depend_on_normalized_email_and_start():
    def token(email, started_at):
        expression = (
            f"{migration._DERIVED} FROM (SELECT %s::text AS email, %s::text AS started_at, "
            "NULL::text AS created_at) r"
        )
        return _sql(expression, email, started_at)

    start = "2024-03-01T09:00:00Z"
    assert token(" Ann@X.org", start) == token("ann@x.org", start)
    assert token("ann@x.org", start) == derived_token(
        "ann@x.org", datetime(2024, 3, 1, 9, tzinfo=UTC)
    )
    assert token("ann@x.org", start) != token("ann@x.org", None)
    assert token("ann@x.org", start).startswith("legacy-")


def test_plaintext_keys_are_encrypted_our_way():
    converted = convert_legacy_secret(" sk-abc ", legacy_key=None)
    assert converted.outcome == ENCRYPTED_PLAINTEXT
    assert decrypt_secret(converted.ciphertext) == "sk-abc"


def test_old_ciphertext_needs_the_old_key():
    old = legacy_ciphertext("sk-old")
    assert convert_legacy_secret(old, legacy_key=None).outcome == DROPPED_NO_LEGACY_KEY
    wrong = convert_legacy_secret(old, legacy_key=bytes(32))
    assert (wrong.ciphertext, wrong.outcome) == (None, DROPPED_UNDECRYPTABLE)
    right = convert_legacy_secret(old, legacy_key=parse_legacy_key(LEGACY_KEY_HEX))
    assert right.outcome == DECRYPTED_LEGACY
    assert decrypt_secret(right.ciphertext) == "sk-old"


@pytest.mark.parametrize("value", ["", "abc", "zz" * 32, "00" * 31])
def test_malformed_old_keys_are_refused(value):
    with pytest.raises(InvalidLegacyKey):
        parse_legacy_key(value)
