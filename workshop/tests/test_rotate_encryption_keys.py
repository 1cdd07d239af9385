"""manage.py rotate_encryption_keys: every stored key ends up under the first key."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from workshop.crypto import decrypt_secret, encrypt_secret
from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def sessions_under_old_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    sessions = [WorkshopSessionFactory(openai_api_key=encrypt_secret(f"sk-{n}")) for n in range(5)]
    WorkshopSessionFactory(openai_api_key=None)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    return sessions


def stored_keys() -> dict[str, str]:
    return dict(
        WorkshopSession.objects.exclude(openai_api_key=None).values_list(
            "session_token", "openai_api_key"
        )
    )


def test_rotation_re_encrypts_every_key_under_the_first_key(settings, sessions_under_old_key):
    out = StringIO()

    call_command("rotate_encryption_keys", "--batch-size", "2", stdout=out)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert sorted(decrypt_secret(c) for c in stored_keys().values()) == [
        f"sk-{n}" for n in range(5)
    ]
    assert "5 stored keys: 5 re-encrypted, 0 already under the current key" in out.getvalue()
    assert out.getvalue().count("keys examined") == 3
    assert "sk-" not in out.getvalue()


def test_second_run_finds_everything_current(sessions_under_old_key):
    call_command("rotate_encryption_keys", stdout=StringIO())
    before = stored_keys()
    out = StringIO()

    call_command("rotate_encryption_keys", stdout=out)

    assert stored_keys() == before
    assert "0 re-encrypted, 5 already under the current key" in out.getvalue()


def test_dry_run_changes_nothing(sessions_under_old_key):
    before = stored_keys()
    out = StringIO()

    call_command("rotate_encryption_keys", "--dry-run", stdout=out)

    assert stored_keys() == before
    assert "5 would be re-encrypted" in out.getvalue()


def test_unreadable_keys_are_left_alone_and_fail_the_command(settings, sessions_under_old_key):
    stranger = WorkshopSessionFactory(openai_api_key="plaintext-legacy-key")

    with pytest.raises(CommandError, match="1 stored keys cannot be decrypted"):
        call_command("rotate_encryption_keys", stdout=StringIO())

    stranger.refresh_from_db()
    assert stranger.openai_api_key == "plaintext-legacy-key"
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert decrypt_secret(stored_keys()[sessions_under_old_key[0].pk]) == "sk-0"
