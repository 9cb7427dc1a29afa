"""The server's evidence signing key (Ed25519): made once, kept in the data directory.

Why a key file of its own rather than one derived from KUCHIKOMI_SECRET_KEY: the signing key is
the server's identity towards lawyers and platforms, who keep its public key for years, so it must
not change when the operator rotates the encryption secret (or never sets one); and it lives beside
the WARC files it vouches for, in the data directory that is backed up with the database
(docs/operations.md#evidence-signing-key). The private key file is PKCS#8 PEM, mode 0600, created
on first use; a second process racing to create it reads the first one's key instead.

The fingerprint is ``sha256:`` and the hex SHA-256 of the public key's DER SubjectPublicKeyInfo, as
``openssl pkey -pubin -in key.pem -outform DER | sha256sum`` prints it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kuchikomi.errors import Invalid
from kuchikomi_settings import get_settings

KEY_FILE = "keys/evidence-signing-ed25519.pem"
ALGORITHM = "Ed25519"


class SigningKeyError(Invalid):
    """No key to sign or verify with can be had: a public key file given to verify with cannot
    be read, or this server's own key is missing (when it may not be created) or unreadable —
    input or setup of whoever runs the command. The API never answers with it: a server that
    cannot sign says so as a server error (:func:`~kuchikomi.services.evidence.build_bundle`)."""

    message_ja = "署名鍵を読み取れません。"


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def fingerprint(self) -> str:
        der = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "sha256:" + hashlib.sha256(der).hexdigest()

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def key_path() -> Path:
    settings = get_settings()
    return settings.evidence.signing_key or settings.data_dir / KEY_FILE


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningKeyError(
            f"the evidence signing key {path} cannot be read: {exc.strerror}"
        ) from None
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return key


def signing_key() -> Ed25519PrivateKey:
    """The server's private key, created (mode 0600) the first time it is needed."""
    path = key_path()
    if path.exists():
        return _load_private(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written whole under a temporary name, then linked into place: a reader never sees half a
    # key, and of two processes creating it at once the second keeps the first one's.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    return _load_private(path)


def server_public_key(*, create: bool = True) -> PublicKey:
    """The public half of the server's key; without ``create``, a missing key is an error."""
    if not create and not key_path().exists():
        raise SigningKeyError(
            f"this server has no evidence signing key yet ({key_path()}): it has issued no "
            "signed bundle; verify with --public-key FILE"
        )
    return PublicKey(signing_key().public_key())


def load_public_key(path: Path) -> PublicKey:
    """A public key as ``kuchikomi evidence public-key`` prints it (PEM)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot be read: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: not an Ed25519 public key")
    return PublicKey(key)
