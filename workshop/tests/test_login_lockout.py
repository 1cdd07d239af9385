"""Login guesses are limited (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one
username from one address, even the right password is refused until the lockout ends or an
operator unlocks it (issue 11)."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Dozens of logins per test: the production hasher would take most of a minute.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client, password: str, *, next_path: str = "/admin/", address: str = "10.0.0.1"):
    return client.post(
        f"{LOGIN}?next={next_path}",
        {"username": "instructor", "password": password, "next": next_path},
        REMOTE_ADDR=address,
    )


def fail(client, times: int, **kwargs) -> None:
    for _ in range(times):
        response = log_in(client, "wrong", **kwargs)
        assert response.status_code in (200, 429)


def test_the_default_limit_is_five_failures():
    assert settings.AXES_FAILURE_LIMIT == 5


@pytest.mark.parametrize("next_path", ["/admin/", "/dashboard/"])
def test_after_the_limit_the_right_password_is_refused(client, instructor, next_path):
    fail(client, settings.AXES_FAILURE_LIMIT, next_path=next_path)

    response = log_in(client, "pw", next_path=next_path)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302  # still not logged in


def test_below_the_limit_the_right_password_works_and_resets_the_count(client, instructor):
    fail(client, settings.AXES_FAILURE_LIMIT - 1)

    assert log_in(client, "pw").status_code == 302
    client.logout()
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, "pw").status_code == 302


def test_the_lockout_is_per_address(client, instructor):
    fail(client, settings.AXES_FAILURE_LIMIT, address="10.0.0.1")

    assert log_in(client, "pw", address="10.0.0.2").status_code == 302


def test_the_address_is_taken_from_trusted_proxy_hops_only(client, instructor, settings):
    settings.NUM_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            LOGIN,
            {"username": "instructor", "password": "wrong"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR="203.0.113.7",
        )

    other = client.post(
        LOGIN,
        {"username": "instructor", "password": "pw"},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="203.0.113.8",
    )
    assert other.status_code == 302


def test_the_documented_unlock_command_unlocks(client, instructor):
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert log_in(client, "pw").status_code == 429

    call_command("axes_reset_username", "instructor", stdout=StringIO())

    assert log_in(client, "pw").status_code == 302


def test_operations_doc_says_how_to_unlock():
    from pathlib import Path

    text = (Path(settings.BASE_DIR) / "docs" / "operations.md").read_text()
    assert "manage.py axes_reset_username" in text
    assert "manage.py axes_list_attempts" in text
