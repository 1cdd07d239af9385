"""Encryption of stored secrets (the sessions' `openai_api_key`).

Fernet tokens under the keys in settings.FIELD_ENCRYPTION_KEYS: the first key encrypts, every
key decrypts, so a new key can be put first and old ciphertext re-encrypted at leisure
(`manage.py rotate_encryption_keys`). Plaintext never leaves this module except to the caller
that asked for it, and is never logged.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """Stored ciphertext that none of the configured keys can open."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    # Keyed on the setting's value, so tests that override the keys get a matching instance.
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_secret(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("stored secret cannot be decrypted with any key") from exc


def rotate_secret(ciphertext: str) -> str:
    """The same secret re-encrypted under the first (current) key."""
    try:
        return _current().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("stored secret cannot be decrypted with any key") from exc


def is_current(ciphertext: str) -> bool:
    """Whether the secret is encrypted under the first (current) key: nothing to rotate."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def mask_secret(ciphertext: str | None) -> str:
    """What people may see of a stored secret: whether it is set, never any of it."""
    return "set" if ciphertext else "not set"
