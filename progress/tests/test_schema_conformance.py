"""Property-based run of the whole API against its own OpenAPI schema (schemathesis).

Every operation of /api/schema/ is called with generated requests, valid and invalid, through
the WSGI application on the test database. No call may answer 5xx, and every answer must
match the schema: status code, content type, headers and body. Bounded (a fixed number of
examples per operation, derandomized) so it runs in seconds in the normal suite and in CI.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# schemathesis calls the WSGI application as http://localhost. Loaded once, at collection:
# serving the schema needs no database. (Its lazy `from_fixture` loader does not work with
# pytest 9's node ids.)
with override_settings(ALLOWED_HOSTS=["localhost"]):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _reachable_and_unthrottled(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    # Hundreds of calls from one address: the throttle has its own tests.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1000000/minute"},
    }
    # Django closes the connection when a WSGI request ends, which would end the test's
    # transaction; Django's own test client detaches this handler the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_match_the_schema(case):
    case.call_and_validate(checks=CHECKS)
