"""Fixtures for the progress API tests."""

import pytest
from django.core.cache import cache, caches
from rest_framework.test import APIClient

from progress.tests.clock import database_clock  # noqa: F401 (a fixture, shared)
from progress.tests.redis_cache import REDIS_CACHE, SKIP_REASON, redis_answers


@pytest.fixture(autouse=True)
def _fresh_throttle_state():
    # Throttle counters live in the cache: every test starts with a clean slate, so the
    # suite never throttles itself and the 429 tests count from zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def staff_api(instructor):
    client = APIClient()
    client.force_login(instructor)
    return client


@pytest.fixture
def post_progress(api):
    """POST /api/student-progress with a JSON body."""

    def post(**body):
        return api.post("/api/student-progress", body, format="json")

    return post


@pytest.fixture
def redis_cache(settings):
    """Production's cache: throttle counts in Redis, shared by workers."""
    if not redis_answers():
        pytest.skip(SKIP_REASON)
    settings.CACHES = {"default": REDIS_CACHE}
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def rates(settings):
    """Set the throttle's rates for the test: rates(anon="2/minute", ...)."""

    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rates
