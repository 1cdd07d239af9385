"""Admin of webhook endpoints (write-only secret, SSRF check) and the re-send action."""

import pytest

from analytics.integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from analytics.integrations.webhooks import URL_PRIVATE
from workshop.crypto import decrypt_secret

pytestmark = pytest.mark.django_db
ADD = "/admin/integrations/webhookendpoint/add/"
NEW_SECRET = "a-new-secret-that-is-long-enough-123"


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def _form(**changes):
    return {
        "name": "LMS",
        "url": "http://127.0.0.1:9/hooks",
        "topics": ["step_completed", "session_completed"],
        "secret": NEW_SECRET,
        "is_active": "on",
        **changes,
    }


def test_the_secret_is_stored_encrypted_and_never_shown(admin_client):
    response = admin_client.post(ADD, _form())
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert NEW_SECRET not in endpoint.secret_ciphertext
    assert decrypt_secret(endpoint.secret_ciphertext) == NEW_SECRET
    assert endpoint.topics == ["step_completed", "session_completed"]
    for url in (
        f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/",
        "/admin/integrations/webhookendpoint/",
    ):
        page = admin_client.get(url).content.decode()
        assert NEW_SECRET not in page
        assert endpoint.secret_ciphertext not in page

    # Saving without a secret keeps the old one.
    change = f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/"
    assert admin_client.post(change, _form(secret="", name="LMS 2")).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, decrypt_secret(endpoint.secret_ciphertext)) == ("LMS 2", NEW_SECRET)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"secret": ""}, "secret", "A new endpoint needs a secret."),
        ({"secret": "short"}, "secret", "at least 24 characters"),
        ({"url": "ftp://example.com/x"}, "url", "Only http:// and https:// URLs"),
        ({"topics": []}, "topics", "This field is required."),
    ],
)
def test_bad_endpoints_are_refused_naming_the_field(admin_client, changes, field, message):
    response = admin_client.post(ADD, _form(**changes))
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert WebhookEndpoint.objects.count() == 0


def test_a_private_address_is_refused_unless_allowed(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = admin_client.post(ADD, _form())
    assert response.context["adminform"].form.errors["url"] == [URL_PRIVATE]
    assert WebhookEndpoint.objects.count() == 0


def test_the_resend_action_queues_the_delivery_again(
    admin_client, endpoint, receiver, django_capture_on_commit_callbacks
):
    from analytics.integrations.tests.test_webhooks import _delivery

    delivery = _delivery(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=8)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/integrations/webhookdelivery/",
            {"action": "resend", "_selected_action": [delivery.pk]},
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 1)
    assert len(receiver.requests) == 1
    page = admin_client.get(f"/admin/integrations/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b"&quot;type&quot;:&quot;step_completed&quot;" in page.content


@pytest.mark.parametrize(
    "url",
    [
        "/admin/integrations/webhookendpoint/",
        "/admin/integrations/webhookdelivery/",
        "/admin/integrations/outboxmessage/",
        "/admin/integrations/emailnotification/",
        "/admin/integrations/notificationpreference/",
    ],
)
def test_admin_lists_render(admin_client, endpoint, url):
    assert admin_client.get(url).status_code == 200
