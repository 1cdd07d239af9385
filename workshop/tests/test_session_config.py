"""The table of session configuration fields names real columns, and what is built from it
follows it."""

from workshop.models import WorkshopSession
from workshop.session_config import (
    JSON_COLUMNS,
    PERSONAL_COLUMNS,
    SECRET_COLUMN,
    SESSION_CONFIG,
    TEXT_COLUMNS,
    Group,
    columns_of,
)


def test_every_row_names_a_column_of_the_sessions_table():
    columns = {f.column for f in WorkshopSession._meta.concrete_fields}
    assert [f.column for f in SESSION_CONFIG if f.column not in columns] == []


def test_api_names_and_columns_are_unique():
    assert len({f.api_name for f in SESSION_CONFIG}) == len(SESSION_CONFIG)
    assert len({f.column for f in SESSION_CONFIG}) == len(SESSION_CONFIG)


def test_the_derived_lists():
    assert SECRET_COLUMN == "openai_api_key"
    assert JSON_COLUMNS == ("tools", "voice_settings")
    assert set(TEXT_COLUMNS) | set(JSON_COLUMNS) | {SECRET_COLUMN} == {
        f.column for f in SESSION_CONFIG
    }
    assert SECRET_COLUMN in PERSONAL_COLUMNS
    assert "call_direction" not in PERSONAL_COLUMNS
    assert columns_of(Group.DEPLOYMENT) == [
        "websocket_url",
        "codespace_url",
        "github_repo_url",
        "railway_url",
    ]
