"""Project-wide pytest plugin (loaded from pytest.ini): database-aware skipping and shared
fixtures."""

import pytest


def _database_vendor() -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else engine.rsplit(".", 1)[-1]


def pytest_report_header(config) -> str:
    return f"database: {_database_vendor()}"


def pytest_collection_modifyitems(config, items) -> None:
    if _database_vendor() == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL to a postgres:// URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def instructor(django_user_model):
    """A staff user, as instructors are."""
    return django_user_model.objects.create_user(
        username="instructor", email="instructor@example.com", password="pw", is_staff=True
    )


@pytest.fixture
def lead_instructor(django_user_model):
    """A superuser: sees every workshop run and the sessions that belong to none (an
    instructor sees only the runs they are assigned to: analytics/tests/test_run_scoping.py)."""
    return django_user_model.objects.create_superuser(
        username="lead", email="lead@example.com", password="pw"
    )


def pytest_sessionstart(session) -> None:
    # The "replica" alias exists in every test run, as a mirror of the test database, as
    # DATABASE_REPLICA_URL would give it; nothing reads from it unless a test installs the
    # router (the `replica_mirror` fixture), so every other test runs as without a replica.
    import copy

    from django.conf import settings
    from django.db import connections

    from workshop.replica import REPLICA

    if REPLICA not in settings.DATABASES:
        replica = copy.deepcopy(connections["default"].settings_dict)
        replica["TEST"]["MIRROR"] = "default"
        settings.DATABASES[REPLICA] = replica
        connections.settings[REPLICA] = replica


@pytest.fixture
def replica_mirror(settings):
    """Reads inside `reads_from_replica()` go to the "replica" alias: the test database
    through a second connection, which sees committed rows only (so tests using it are
    transactional and name both databases)."""
    from django.db import connections

    from workshop.replica import REPLICA

    settings.DATABASE_ROUTERS = ["workshop.replica.ReplicaRouter"]
    return connections[REPLICA]
