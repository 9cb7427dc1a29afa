"""Secrets at rest: encrypt what must be stored (Google refresh tokens) with KUCHIKOMI_SECRET_KEY.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key derived from the operator's
secret by HKDF, so that any string of reasonable length works as KUCHIKOMI_SECRET_KEY and the same
secret can later derive other keys (a different HKDF ``info``) without reusing this one.

It lives with the tables because encryption at rest is part of storing a column: the services
encrypt what they store and the crawl process decrypts what it reads, and both may import
``models`` (docs/architecture.md#packages-and-what-each-may-import).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kuchikomi_settings import get_settings

# Short keys are guessable offline from a stolen database; ask for a real random secret.
MIN_SECRET_KEY_LENGTH = 16
_INFO = b"kuchikomi-guard stored secrets v1"


class SecretKeyError(ValueError):
    """KUCHIKOMI_SECRET_KEY is missing, too short, or not the key the secret was stored with."""


def _fernet() -> Fernet:
    configured = get_settings().secret_key
    secret = configured.get_secret_value() if configured is not None else ""
    if not secret:
        raise SecretKeyError(
            "KUCHIKOMI_SECRET_KEY is not set; it encrypts the stored Google refresh tokens. "
            'Set it to a long random value (e.g. `python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"`) and keep it with your backups'
        )
    if len(secret) < MIN_SECRET_KEY_LENGTH:
        raise SecretKeyError(
            f"KUCHIKOMI_SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters; "
            "use a long random value"
        )
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def check_secret_key() -> None:
    """Raise :class:`SecretKeyError` now rather than after an interactive OAuth consent."""
    _fernet()


def encrypt_secret(plain: str) -> str:
    return _fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretKeyError(
            "cannot decrypt a stored secret: KUCHIKOMI_SECRET_KEY is not the key it was stored "
            "with (was the key changed?); restore the old key or connect again"
        ) from None
