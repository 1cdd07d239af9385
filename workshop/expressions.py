"""Database expressions that must mean the same thing on PostgreSQL and SQLite.

Used as `db_default`s so a row inserted with raw SQL gets the spec's values on both backends.
"""

from django.db import NotSupportedError
from django.db.models import DateTimeField, Func


class SqlNow(Func):
    """`NOW()` exactly as the spec writes it on PostgreSQL (Django's `Now` compiles to
    `STATEMENT_TIMESTAMP()`), and the current UTC time on SQLite."""

    output_field = DateTimeField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "NOW()", []

    def as_sqlite(self, compiler, connection, **extra_context):
        return "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now')", []

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"SqlNow is not implemented for {connection.vendor}.")


class SqlNowPlusHours(Func):
    """`NOW() + INTERVAL 'N hours'`. `Now() + timedelta(...)` is right on PostgreSQL but
    compiles to a number on SQLite, so each backend gets its own SQL."""

    output_field = DateTimeField()

    def __init__(self, hours: int) -> None:
        self.hours = int(hours)
        super().__init__()

    def as_postgresql(self, compiler, connection, **extra_context):
        return f"NOW() + INTERVAL '{self.hours} hours'", []

    def as_sqlite(self, compiler, connection, **extra_context):
        return f"STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '+{self.hours} hours')", []

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"SqlNowPlusHours is not implemented for {connection.vendor}.")
