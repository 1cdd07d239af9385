"""The read replica (workshop/replica.py): which reads go to it, and that nothing else does.

The replica here is a mirror of the test database (a second connection to it), so each page
can be checked for where its queries went; test_read_replica_streaming.py does the same
against a real streaming replica.
"""

import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from progress.tests.factories import StepProgressFactory
from workshop.models import Student, WorkshopSession
from workshop.replica import (
    REPLICA,
    REPLICA_APP_LABELS,
    ReplicaRouter,
    reads_from_replica,
)
from workshop.tests.factories import WorkshopSessionFactory
from workshop.tests.test_settings import PRODUCTION, manage

# The mirror sees committed rows only: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])

PROJECT_TABLES = {
    table
    for label in REPLICA_APP_LABELS
    for model in apps.get_app_config(label).get_models(include_auto_created=True)
    for table in [model._meta.db_table]
}

REPLICA_PAGES = [
    ("dashboard:overview", "Overview"),
    ("dashboard:overview-live", None),
    ("dashboard:funnel", "funnel"),
    ("dashboard:funnel-csv", "step_number"),
    ("dashboard:stuck", "stuck"),
    ("dashboard:stuck-csv", None),
    ("dashboard:students", "replica@example.com"),
    ("dashboard:students-csv", "replica@example.com"),
    ("dashboard:grid", None),
    ("dashboard:run-report", None),
]


def project_queries(captured) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if any(f'"{table}"' in query["sql"] for table in PROJECT_TABLES)
    ]


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


@pytest.fixture
def session():
    session = WorkshopSessionFactory(student__student_email="replica@example.com")
    StepProgressFactory(session=session, step_number=1, validation_passed=True)
    return session


@pytest.fixture
def lead(client):
    user = get_user_model().objects.create_superuser("lead", "lead@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(("name", "expected"), REPLICA_PAGES)
def test_dashboard_pages_and_exports_read_the_project_tables_from_the_replica(
    replica_mirror, lead, session, name, expected
):
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(replica_mirror) as replica,
    ):
        response = lead.get(reverse(name))
        text = body(response)  # a CSV's queries run while its body streams

    assert response.status_code == 200
    if expected:
        assert expected in text
    assert project_queries(replica)
    assert project_queries(primary) == []


def test_the_share_link_reads_from_the_replica(replica_mirror, session):
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(replica_mirror) as replica,
    ):
        response = APIClient().get("/api/student-progress", {"studentId": str(session.student_id)})

    assert response.status_code == 200
    assert [s["current_step"] for s in response.json()["sessions"]] == [session.current_step]
    assert len(project_queries(replica)) >= 1
    assert project_queries(primary) == []


def test_writes_and_read_your_write_paths_use_only_the_primary(replica_mirror, lead, session):
    api = APIClient()
    with CaptureQueriesContext(replica_mirror) as replica:
        posted = api.post(
            "/api/student-progress",
            {"sessionToken": "ws_replica_test", "stepNumber": 2, "completed": True},
            format="json",
        )
        by_token = api.get("/api/student-progress", {"sessionToken": "ws_replica_test"})
        student_page = lead.get(reverse("dashboard:student", args=[session.student_id]))
        help_queue = lead.get(reverse("dashboard:help-queue"))
        admin_list = lead.get(reverse("admin:workshop_workshopsession_changelist"))

    assert posted.status_code == 200
    assert posted.json()["progress"]["current_step"] == 2
    assert by_token.json()["progress"]["session_token"] == "ws_replica_test"
    assert "replica@example.com" in student_page.content.decode()
    assert help_queue.status_code == 200
    assert "ws_replica_test"[:14] in admin_list.content.decode()
    assert replica.captured_queries == []


def test_a_write_inside_the_replica_context_goes_to_the_primary(replica_mirror, session):
    with CaptureQueriesContext(replica_mirror) as replica, reads_from_replica():
        loaded = WorkshopSession.objects.get(pk=session.pk)
        read_from = loaded._state.db
        loaded.current_step = 7
        loaded.save(update_fields=["current_step"])
        Student.objects.create(student_email="new@example.com")

    assert (read_from, loaded._state.db) == (REPLICA, DEFAULT_DB_ALIAS)
    assert [q["sql"].split()[0] for q in replica.captured_queries] == ["SELECT"]
    session.refresh_from_db()
    assert session.current_step == 7
    assert Student.objects.filter(student_email="new@example.com").exists()


def test_the_router_keeps_logins_writes_and_migrations_on_the_primary(replica_mirror):
    router = ReplicaRouter()
    user_model = get_user_model()

    with reads_from_replica():
        assert router.db_for_read(Student) == REPLICA
        assert router.db_for_read(user_model) == DEFAULT_DB_ALIAS
        assert router.db_for_write(Student) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Student) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "workshop") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "workshop") is True


def test_without_the_router_the_replica_context_changes_nothing(session):
    # As without DATABASE_REPLICA_URL: no router installed (the alias exists in tests only).
    with CaptureQueriesContext(connections[REPLICA]) as replica, reads_from_replica():
        assert WorkshopSession.objects.get(pk=session.pk)._state.db == DEFAULT_DB_ALIAS

    assert replica.captured_queries == []


def _database_settings(env: dict[str, str]) -> dict:
    script = (
        "import json; from django.conf import settings; "
        "print(json.dumps({'databases': settings.DATABASES, "
        "'routers': settings.DATABASE_ROUTERS}, default=str))"
    )
    result = manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_replica_alias_exists_only_when_its_url_is_set():
    primary = {
        **PRODUCTION,
        "DATABASE_URL": "postgres://app@db1:5432/workshop",
        "CONN_MAX_AGE": "60",
    }
    without = _database_settings(primary)
    with_replica = _database_settings(
        {**primary, "DATABASE_REPLICA_URL": "postgres://reader@db2:5433/workshop"}
    )

    assert list(without["databases"]) == ["default"]
    assert without["routers"] == []
    replica = with_replica["databases"]["replica"]
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == ("db2", 5433, "reader")
    assert replica["CONN_MAX_AGE"] == 60
    assert replica["OPTIONS"] == with_replica["databases"]["default"]["OPTIONS"]
    assert replica["TEST"]["MIRROR"] == "default"
    assert with_replica["routers"] == ["workshop.replica.ReplicaRouter"]
