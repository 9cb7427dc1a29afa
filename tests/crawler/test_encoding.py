"""Choosing how to read a page's bytes: declarations, mislabelled pages, damaged pages."""

from __future__ import annotations

import pytest

from crawler.encoding import declared_encoding, page_encoding

TEXT = "<p>" + "髙﨑クリニックの口コミです。①" * 40 + "</p>"
# EUC-JP has neither ① nor 髙﨑 (CP932 extensions).
EUC_TEXT = TEXT.replace("①", "").replace("髙﨑", "高崎")


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        (TEXT.encode("cp932"), "Shift_JIS", "cp932"),  # CP932-only characters under Shift_JIS
        (EUC_TEXT.encode("euc_jp"), None, "euc_jp"),  # declares nothing
        (EUC_TEXT.encode("euc_jp"), "utf-8", "euc_jp"),  # mislabelled
        (TEXT.encode("cp932"), "euc-jp", "cp932"),
        # A UTF-8 page with one cut-off character stays UTF-8 (not garbled as CP932).
        (TEXT.encode("utf-8") + b"\xe3\x81", "utf-8", "utf-8"),
    ],
)
def test_page_encoding(body: bytes, declared: str | None, expected: str) -> None:
    encoding = page_encoding(body, declared=declared, fallback="utf-8")
    assert encoding == expected
    assert "クリニックの口コミ" in body.decode(encoding, errors="replace")


def test_profile_encoding_wins_and_meta_is_read() -> None:
    body = b'<html><head><meta charset="EUC-JP"></head><body>\xb8\xfd</body></html>'
    assert declared_encoding(body, "text/html") == "euc_jp"
    assert declared_encoding(body, "text/html; charset=Shift_JIS") is not None
    assert page_encoding(body, declared="euc_jp", fallback="utf-8", forced="shift_jis") == "cp932"


def test_a_western_server_default_does_not_hide_a_japanese_page() -> None:
    body = TEXT.encode("cp932")
    declared = declared_encoding(body, "text/html; charset=ISO-8859-1")
    assert declared is None  # the header is ignored, nothing else is declared
    assert page_encoding(body, declared=declared, fallback="cp1252") == "cp932"
    with_meta = b'<meta charset="Shift_JIS">' + body
    assert declared_encoding(with_meta, "text/html; charset=ISO-8859-1") == "cp932"
