"""Query budgets of the progress API per backend.

On PostgreSQL a progress POST is one call of the database function (progress/db_functions.py)
and a read by token one call of the reply function. Inside a test's transaction the POST's call
runs in a savepoint (a refusal must not abort the caller's transaction): 3 statements; in
autocommit, as in production, the call alone (test_db_functions checks it).
"""

from django.db import connection

POST_ON_POSTGRES = 3
GET_BY_TOKEN_ON_POSTGRES = 1


def budget(*, postgres: int, sqlite: int) -> int:
    return postgres if connection.vendor == "postgresql" else sqlite
