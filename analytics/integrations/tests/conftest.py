"""Fixtures of the integrations tests: a local webhook receiver and endpoints for it."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from analytics.integrations import services, webhooks
from analytics.integrations.models import WEBHOOK_TOPICS, WebhookEndpoint
from analytics.integrations.tests.receiver import start_receiver
from workshop.crypto import encrypt_secret

SECRET = "whsec-test-0123456789abcdefghijklmnop"


@pytest.fixture(autouse=True)
def _integration_settings(settings):
    cache.clear()
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.INSTRUCTOR_EMAILS = ["lead@example.com", "helper@example.com"]
    settings.SITE_URL = "https://progress.example.com"
    services.end_publish_pause()
    yield
    cache.clear()
    # Neither a broker outage nor a kept-alive connection outlives its test.
    services.end_publish_pause()
    webhooks.close_pooled_connections()


@pytest.fixture
def receiver():
    state, server = start_receiver()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(receiver):
    return WebhookEndpoint.objects.create(
        name="LMS",
        url=receiver.url,
        topics=[topic.value for topic in WEBHOOK_TOPICS],
        secret_ciphertext=encrypt_secret(SECRET),
    )


@pytest.fixture
def api():
    return APIClient()
