"""The foundation's management commands."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_demo_instructor_is_created_with_a_working_printed_password(settings, client):
    settings.DEBUG = True
    out = StringIO()

    call_command("ensure_demo_instructor", stdout=out)

    password = out.getvalue().strip().rsplit(" / ", 1)[1]
    user = get_user_model().objects.get(username="instructor")
    assert user.is_staff
    # Through the login form: django-axes needs the request to count attempts.
    response = client.post("/admin/login/", {"username": "instructor", "password": password})
    assert response.status_code == 302


def test_demo_instructor_password_changes_every_run(settings):
    settings.DEBUG = True
    first, second = StringIO(), StringIO()

    call_command("ensure_demo_instructor", stdout=first)
    call_command("ensure_demo_instructor", stdout=second)

    assert first.getvalue().rsplit(" / ", 1)[1] != second.getvalue().rsplit(" / ", 1)[1]
    assert get_user_model().objects.count() == 1


def test_demo_instructor_is_refused_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="local runs only"):
        call_command("ensure_demo_instructor", stdout=StringIO())

    assert not get_user_model().objects.exists()
