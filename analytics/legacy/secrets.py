"""Legacy `openai_api_key` values: plaintext, or the old service's AES-256-GCM ciphertext.

The old format is `base64(iv):base64(tag):base64(ciphertext)` (16-byte IV, 16-byte tag) under a
64-hex-character key. Whatever comes out ends up encrypted our way (workshop.crypto) or is
dropped and counted; plaintext is never stored.
"""

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workshop.crypto import encrypt_secret

_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_OLD_FORMAT = re.compile(rf"^({_B64}):({_B64}):({_B64})$")
IV_BYTES = TAG_BYTES = 16


class InvalidLegacyKey(ValueError):
    """The --legacy-encryption-key is not 64 hexadecimal characters."""


def parse_legacy_key(value: str) -> bytes:
    if not _HEX_KEY.match(value or ""):
        raise InvalidLegacyKey("the legacy encryption key must be 64 hexadecimal characters")
    return bytes.fromhex(value)


def _old_ciphertext(value: str) -> tuple[bytes, bytes, bytes] | None:
    match = _OLD_FORMAT.match(value)
    if match is None:
        return None
    try:
        iv, tag, ciphertext = (base64.b64decode(part, validate=True) for part in match.groups())
    except binascii.Error:
        return None
    if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
        return None
    return iv, tag, ciphertext


# What happened to one legacy key value (the report counts sessions per outcome).
ENCRYPTED_PLAINTEXT = "encrypted_plaintext"
DECRYPTED_LEGACY = "decrypted_legacy"
DROPPED_NO_LEGACY_KEY = "dropped_no_legacy_key"
DROPPED_UNDECRYPTABLE = "dropped_undecryptable"


@dataclass(frozen=True)
class ConvertedSecret:
    ciphertext: str | None  # ours (workshop.crypto), or None when dropped
    outcome: str


def convert_legacy_secret(value: str, *, legacy_key: bytes | None) -> ConvertedSecret:
    """A non-blank legacy `openai_api_key` value, re-encrypted our way or dropped."""
    value = value.strip()
    parts = _old_ciphertext(value)
    if parts is None:
        return ConvertedSecret(encrypt_secret(value), ENCRYPTED_PLAINTEXT)
    if legacy_key is None:
        return ConvertedSecret(None, DROPPED_NO_LEGACY_KEY)
    iv, tag, ciphertext = parts
    try:
        plaintext = AESGCM(legacy_key).decrypt(iv, ciphertext + tag, None).decode()
    except (InvalidTag, UnicodeDecodeError):
        return ConvertedSecret(None, DROPPED_UNDECRYPTABLE)
    return ConvertedSecret(encrypt_secret(plaintext), DECRYPTED_LEGACY)
