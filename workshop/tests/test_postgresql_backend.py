"""workshop.postgresql: Django's PostgreSQL backend, health-checking (CONN_HEALTH_CHECKS) only
the persistent connections that sat idle. Each test drives its own connection through requests
as Django's request signals do (close_if_unusable_or_obsolete as a request starts and ends)."""

import pytest
from django.db import DatabaseError, connection, connections

from workshop.postgresql import base

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def probe():
    """A second connection to the test database, with production's persistence and checks."""
    settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}
    wrapper = base.DatabaseWrapper(settings_dict, alias="health_probe")
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    wrapper.execute_wrappers.append(record)
    yield wrapper, statements
    wrapper.close()


def _request(wrapper) -> int:
    """One request that reads from the database, as Django runs it."""
    wrapper.close_if_unusable_or_obsolete()
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 2")
            return cursor.fetchone()[0]
    finally:
        wrapper.close_if_unusable_or_obsolete()


def _backend_pid(wrapper) -> int:
    return wrapper.connection.info.backend_pid


def _terminate(wrapper) -> int:
    """End the connection's PostgreSQL backend, as a restart would; returns its pid."""
    dead = _backend_pid(wrapper)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead])
    return dead


def _age(wrapper, seconds: float) -> None:
    wrapper.answered_at -= seconds


def test_the_project_runs_on_this_backend():
    assert connection.settings_dict["ENGINE"] == "workshop.postgresql"
    assert isinstance(connections["default"], base.DatabaseWrapper)


def _count_checks(wrapper, monkeypatch) -> list[int]:
    """Django's health check (is_usable: a SELECT 1 on the psycopg connection), counted."""
    checks: list[int] = []
    real = wrapper.is_usable
    monkeypatch.setattr(wrapper, "is_usable", lambda: checks.append(1) or real())
    return checks


def test_a_connection_that_answered_moments_ago_is_not_checked(probe, monkeypatch):
    wrapper, statements = probe
    checks = _count_checks(wrapper, monkeypatch)
    _request(wrapper)  # connects: a new connection is not checked either

    assert [_request(wrapper) for _ in range(3)] == [2, 2, 2]

    # Django's own check would have sent a SELECT 1 before each of these.
    assert checks == []
    assert statements == ["SELECT 2"] * 4


def test_a_connection_idle_longer_than_the_limit_is_checked_once(probe, monkeypatch):
    wrapper, _ = probe
    checks = _count_checks(wrapper, monkeypatch)
    _request(wrapper)

    _age(wrapper, base.IDLE_BEFORE_CHECK + 0.1)
    _request(wrapper)
    _request(wrapper)

    assert len(checks) == 1


def test_a_connection_that_died_while_idle_is_replaced_before_the_request_uses_it(probe):
    wrapper, _ = probe
    _request(wrapper)
    dead = _terminate(wrapper)
    _age(wrapper, base.IDLE_BEFORE_CHECK + 0.1)

    assert _request(wrapper) == 2
    assert _backend_pid(wrapper) != dead


def test_a_connection_that_died_while_busy_fails_one_request_then_is_replaced(probe):
    wrapper, _ = probe
    _request(wrapper)
    dead = _terminate(wrapper)

    # Answered moments ago: not checked, so this request meets the broken connection (the
    # API answers it 503), and Django closes it as the request ends.
    with pytest.raises(DatabaseError):
        _request(wrapper)
    assert wrapper.connection is None

    assert _request(wrapper) == 2
    assert _backend_pid(wrapper) != dead


def test_a_request_that_did_not_use_the_connection_does_not_refresh_it(probe, monkeypatch):
    wrapper, _ = probe
    _request(wrapper)
    _age(wrapper, base.IDLE_BEFORE_CHECK + 0.1)
    checks = _count_checks(wrapper, monkeypatch)

    # A request that never touches the database (a throttled call, a 404 route) ...
    wrapper.close_if_unusable_or_obsolete()
    wrapper.close_if_unusable_or_obsolete()
    # ... leaves the connection idle: the next one that uses it checks it first.
    _request(wrapper)

    assert checks == [1]


def test_checks_stay_off_when_conn_health_checks_is_off(probe, monkeypatch):
    wrapper, _ = probe
    wrapper.settings_dict["CONN_HEALTH_CHECKS"] = False
    wrapper.close()
    checks = _count_checks(wrapper, monkeypatch)
    _request(wrapper)
    _age(wrapper, base.IDLE_BEFORE_CHECK + 0.1)

    _request(wrapper)

    assert checks == []
