"""Text as the database can keep it, and how much of a review is kept and analysed.

Every way text comes in — crawled pages, imported files, API request bodies — passes through
:func:`storable` before it is written (docs/contracts.md#text-limits): PostgreSQL's ``text``
cannot hold NUL (U+0000), and a lone surrogate (U+D800–U+DFFF, which a JSON ``"\\ud800"`` escape
produces) has no UTF-8 form, so either one made whole pages fail to save. NUL is dropped and a
lone surrogate becomes U+FFFD (the replacement character), so a reader still sees that something
was there.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# The longest review text kept, in full, as evidence (characters): an import refuses a longer
# one, a crawl stores its first this many (the archived page keeps all of it). Review sites cap
# reviews at a few thousand characters. The classifier analyses exactly this much
# (classifier.text.MAX_CHARS); near-duplicate detection compares a shorter prefix
# (detector.duplicates.DuplicateParams.max_chars). docs/contracts.md#text-limits
MAX_REVIEW_CHARS = 100_000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _replacement(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


def storable(value: str) -> str:
    """``value`` without NUL characters, its lone surrogates replaced by U+FFFD."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub(_replacement, value)


def has_unstorable(value: str) -> bool:
    """Whether :func:`storable` would change ``value`` (for identifiers, which must not change)."""
    return _UNSTORABLE.search(value) is not None


def _storable_input(value: Any) -> Any:
    return storable(value) if isinstance(value, str) else value


# A str field of an API body, made storable as it is read (before pydantic's own check, which
# refuses lone surrogates, so that a body is cleaned rather than refused as malformed).
StorableStr = Annotated[str, BeforeValidator(_storable_input)]
