"""Decoding Japanese pages: what Scrapy's TextResponse does not already do.

Scrapy (w3lib) reads the charset from the HTTP header, a BOM or the page's <meta>, and already
decodes a declared Shift_JIS as CP932 (the Windows superset that has ①, 髙 and the like, which
Japanese sites use while calling it Shift_JIS). Two things are missing:

- a profile's ``encoding``, for a site known to declare nothing or the wrong charset;
- a page that declares nothing (w3lib then guesses, and takes EUC-JP for Big5), or declares a
  charset its bytes are not in (a header saying UTF-8 over EUC-JP bytes). Then UTF-8, EUC-JP
  and CP932 are tried strictly, in that order: UTF-8 rarely decodes anything else without
  error, and Shift_JIS lead bytes (0x81–0x9F) are invalid in EUC-JP, while EUC-JP bytes often
  decode as (wrong) CP932.
"""

from __future__ import annotations

import codecs

from scrapy.http import TextResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from crawler.sites import SiteProfile

# Japanese encodings tried when the chosen one does not decode the page cleanly.
CANDIDATES = ("utf-8", "euc_jp", "cp932")
# What w3lib makes of a header's "ISO-8859-1", "US-ASCII" or "windows-1252".
_WESTERN_DEFAULTS = {"cp1252", "latin_1", "iso8859-1", "ascii"}
# Names sites use for Shift_JIS; CP932 decodes all of them and the Windows extensions too.
_SHIFT_JIS = {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis"}


def _codec(name: str) -> str:
    if name.lower() in _SHIFT_JIS:
        return "cp932"
    return codecs.lookup(name).name


def _errors(body: bytes, encoding: str) -> int:
    """How many characters of ``body`` cannot be decoded in ``encoding``."""
    try:
        return body.decode(encoding, errors="replace").count("\ufffd")
    except LookupError:
        return len(body)


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def declared_encoding(body: bytes, content_type: str | None) -> str | None:
    """The charset the page states: HTTP header, byte-order mark or <meta>, in that order.

    A header saying ISO-8859-1/ASCII (w3lib reads both as cp1252) is a server default more often
    than a statement about a Japanese page, and any byte decodes in it: the page's own
    declaration wins over it, and without one the bytes decide.
    """
    bom, _ = read_bom(body)
    header = http_content_type_encoding(content_type)
    if header in _WESTERN_DEFAULTS:
        return bom or html_body_declared_encoding(body) or None
    return header or bom or html_body_declared_encoding(body) or None


def page_encoding(
    body: bytes, *, declared: str | None, fallback: str, forced: str | None = None
) -> str:
    """The encoding to read ``body`` with: the profile's; else the declared one if the bytes are
    in it (but for a few damaged ones); else the first Japanese candidate they decode in cleanly;
    else ``fallback``."""
    if forced:
        return _codec(forced)
    if declared:
        try:
            codec = _codec(declared)
        except LookupError:
            codec = None
        # A few bad bytes (a multi-byte character cut off in an excerpt) are the page's own
        # damage, not a wrong label: reading a UTF-8 page as CP932 would garble all of it.
        if codec is not None and _errors(body, codec) <= max(3, len(body) // 2000):
            return codec
    for candidate in CANDIDATES:
        if _decodes(body, candidate):
            return candidate
    return _codec(fallback)


def decoded(response: TextResponse, site: SiteProfile) -> TextResponse:
    """The response, re-decoded when the profile or the bytes say Scrapy chose wrongly."""
    content_type = response.headers.get("Content-Type")
    encoding = page_encoding(
        response.body,
        declared=declared_encoding(
            response.body, content_type.decode("latin-1") if content_type else None
        ),
        fallback=response.encoding,
        forced=site.encoding,
    )
    if encoding == _codec(response.encoding):
        return response
    return response.replace(encoding=encoding)
