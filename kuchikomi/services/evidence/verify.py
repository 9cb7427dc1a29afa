"""Verifying a bundle: the signature of its manifest, then every hash the manifest lists.

The signature proves the manifest is the one this server issued; the manifest's hashes then prove
each file, each archived page inside the WARC and the review text. A forger who rewrites the page
and updates the hashes still fails the first check, because only the server's private key can
sign the changed manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from kuchikomi.services.evidence.base import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    UNSIGNED_FORMAT,
    WARC_NAME,
    ArchiveIntegrityError,
    BundleFormatError,
)
from kuchikomi.services.evidence.signing import PublicKey, server_public_key
from kuchikomi.services.evidence.warc import bare_id, payload_digests

_CHUNK = 1024 * 1024
TEXT_CHECK = f"{MANIFEST_NAME}#review.text"


class CheckStatus(StrEnum):
    ok = "OK"
    mismatch = "MISMATCH"
    missing = "MISSING"
    # A file in the zip that the manifest does not list: something was added after the fact.
    unlisted = "UNLISTED"
    # The signature does not prove the manifest: changed after signing, or another key's.
    invalid = "INVALID"


@dataclass(frozen=True)
class FileCheck:
    file: str
    expected: str | None
    actual: str | None
    status: CheckStatus
    # What went wrong, in words, where the status alone does not say it.
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.ok


def verify_bundle(source: Path | IO[bytes], public_key: PublicKey | None = None) -> list[FileCheck]:
    """Check a bundle: its signature (first), one check per file in the manifest, per capture in
    the WARC (``evidence.warc.gz#<record id>``), the review text, and per unlisted file.

    ``public_key`` is the key the recipient trusts (``kuchikomi evidence public-key``); without
    it, this server's own key. Raises :class:`BundleFormatError` when ``source`` is not a zip or
    has no valid manifest, and ``SigningKeyError`` when no key to verify with can be had.
    """
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleFormatError(f"not a zip file: {exc}") from None
    with zf:
        raw, manifest = _read_manifest(zf)
        names = {info.filename for info in zf.infolist() if not info.is_dir()}
        key = public_key or server_public_key(create=False)
        checks = [_check_signature(zf, names, raw, manifest, key)]
        for name, expected in manifest["files"].items():
            if name not in names:
                checks.append(FileCheck(name, expected, None, CheckStatus.missing))
                continue
            actual = _zip_sha256(zf, name)
            status = CheckStatus.ok if actual == expected.lower() else CheckStatus.mismatch
            checks.append(FileCheck(name, expected, actual, status))
        checks.extend(_check_captures(zf, manifest, names))
        checks.append(_check_text(manifest))
        extra = names - set(manifest["files"]) - {MANIFEST_NAME, SIGNATURE_NAME}
        for name in sorted(extra):
            checks.append(FileCheck(name, None, _zip_sha256(zf, name), CheckStatus.unlisted))
    return checks


def _check_signature(
    zf: zipfile.ZipFile, names: set[str], raw: bytes, manifest: dict[str, Any], key: PublicKey
) -> FileCheck:
    signed_by = (manifest.get("signature") or {}).get("public_key_fingerprint")
    if SIGNATURE_NAME not in names:
        return FileCheck(
            SIGNATURE_NAME,
            key.fingerprint,
            None,
            CheckStatus.missing,
            f"the bundle carries no signature of {MANIFEST_NAME}: nothing proves who issued it",
        )
    try:
        signature = zf.read(SIGNATURE_NAME)
    except (zipfile.BadZipFile, zlib.error, OSError):
        signature = b""
    if key.verifies(signature, raw):
        return FileCheck(SIGNATURE_NAME, key.fingerprint, key.fingerprint, CheckStatus.ok)
    if isinstance(signed_by, str) and signed_by != key.fingerprint:
        detail = (
            f"{MANIFEST_NAME} names the signing key {signed_by}, not the key verified against "
            f"({key.fingerprint}): signed elsewhere, or the manifest was rewritten"
        )
    else:
        detail = (
            f"the signature does not match {MANIFEST_NAME}: the manifest was changed after the "
            "server signed it"
        )
    actual = signed_by if isinstance(signed_by, str) else None
    return FileCheck(SIGNATURE_NAME, key.fingerprint, actual, CheckStatus.invalid, detail)


def _check_text(manifest: dict[str, Any]) -> FileCheck:
    review = manifest.get("review")
    text = review.get("text") if isinstance(review, dict) else None
    expected = review.get("text_sha256") if isinstance(review, dict) else None
    if not isinstance(text, str) or not isinstance(expected, str):
        return FileCheck(TEXT_CHECK, expected, None, CheckStatus.missing)
    actual = hashlib.sha256(text.encode()).hexdigest()
    status = CheckStatus.ok if actual == expected.lower() else CheckStatus.mismatch
    return FileCheck(TEXT_CHECK, expected, actual, status)


def _read_manifest(zf: zipfile.ZipFile) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = zf.read(MANIFEST_NAME)
    except KeyError:
        raise BundleFormatError(f"no {MANIFEST_NAME} in the zip: not an evidence bundle") from None
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise BundleFormatError(f"{MANIFEST_NAME} cannot be read: {exc}") from None
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BundleFormatError(f"{MANIFEST_NAME} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (
        BUNDLE_FORMAT,
        UNSIGNED_FORMAT,
    ):
        raise BundleFormatError(f"{MANIFEST_NAME} is not a {BUNDLE_FORMAT} manifest")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _is_sha256(v) for k, v in files.items()
    ):
        raise BundleFormatError(f"{MANIFEST_NAME} has no valid list of file hashes")
    captures = manifest.get("captures", [])
    if not isinstance(captures, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("warc_record_id"), str)
        and isinstance(c.get("payload_sha256"), str)
        and isinstance(c.get("file", WARC_NAME), str)
        for c in captures
    ):
        raise BundleFormatError(f"{MANIFEST_NAME} has an invalid list of captures")
    return raw, manifest


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in value)


def _zip_sha256(zf: zipfile.ZipFile, name: str) -> str | None:
    """SHA-256 of a member, streamed; None when the member itself is damaged (bad CRC/deflate)."""
    digest = hashlib.sha256()
    try:
        with zf.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
        return None
    return digest.hexdigest()


def _check_captures(
    zf: zipfile.ZipFile, manifest: dict[str, Any], names: set[str]
) -> list[FileCheck]:
    checks = []
    digests_by_file: dict[str, dict[str, set[str]] | None] = {}
    for capture in manifest.get("captures", []):
        file = capture.get("file") or WARC_NAME
        label = f"{file}#{capture['warc_record_id']}"
        expected = capture["payload_sha256"].lower()
        if file not in names:
            checks.append(FileCheck(label, expected, None, CheckStatus.missing))
            continue
        if file not in digests_by_file:
            try:
                with zf.open(file) as fh:
                    digests_by_file[file] = payload_digests(io.BytesIO(fh.read()))
            except (ArchiveIntegrityError, zipfile.BadZipFile, zlib.error, OSError):
                digests_by_file[file] = None
        found = digests_by_file[file]
        digests = None if found is None else found.get(bare_id(capture["warc_record_id"]))
        if digests is None:
            checks.append(FileCheck(label, expected, None, CheckStatus.missing))
        elif expected in digests:
            checks.append(FileCheck(label, expected, expected, CheckStatus.ok))
        else:
            checks.append(FileCheck(label, expected, sorted(digests)[0], CheckStatus.mismatch))
    return checks
