"""migrate_legacy on SQLite: the legacy tables only ever existed on PostgreSQL."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

pytestmark = pytest.mark.django_db


def test_migrate_legacy_refuses_sqlite_clearly():
    if connection.vendor == "postgresql":
        pytest.skip("the refusal only happens on SQLite")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("migrate_legacy", stdout=StringIO())
