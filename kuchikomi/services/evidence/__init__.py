"""Evidence bundles for one review, and their verification (docs/domain.md#evidence).

A bundle is a zip a clinic can hand to its lawyer, a consultation desk or a court:

- ``evidence.warc.gz`` — the archived WARC records (ISO 28500) of the pages the review was seen on,
  copied byte for byte out of the crawler's archive (:mod:`.warc`);
- ``capture-N.pdf`` / ``capture-N.png`` — each archived page as a browser shows it, replayed
  offline from the WARC (:mod:`.rendering`), when a Chromium is installed;
- ``report.pdf`` — a printable Japanese report (:mod:`.report`);
- ``manifest.json`` — SHA-256 of every other file, the review's metadata and the captures;
- ``manifest.json.sig`` — the server's Ed25519 signature of the manifest (:mod:`.signing`).

:mod:`.bundle` builds one and records it; :mod:`.verify` checks one (``kuchikomi evidence
verify``), offline, with the server's public key.
"""

from kuchikomi.services.evidence.base import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    REPORT_NAME,
    SIGNATURE_NAME,
    WARC_NAME,
    ArchiveIntegrityError,
    BundleFormatError,
    jst,
)
from kuchikomi.services.evidence.bundle import EvidenceBundle, build_bundle, issue_bundle
from kuchikomi.services.evidence.signing import (
    PublicKey,
    SigningKeyError,
    load_public_key,
    server_public_key,
)
from kuchikomi.services.evidence.verify import CheckStatus, FileCheck, verify_bundle

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST_NAME",
    "REPORT_NAME",
    "SIGNATURE_NAME",
    "WARC_NAME",
    "ArchiveIntegrityError",
    "BundleFormatError",
    "CheckStatus",
    "EvidenceBundle",
    "FileCheck",
    "PublicKey",
    "SigningKeyError",
    "build_bundle",
    "issue_bundle",
    "jst",
    "load_public_key",
    "server_public_key",
    "verify_bundle",
]
