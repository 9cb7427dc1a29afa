"""CSV export of reviews, safe to open in a spreadsheet program.

The file is for people: Japanese headers, Japanese names of labels, categories and decisions
(each followed by a column with the code, for formulas and scripts), times as Japan time
``2025-03-04 09:15`` (:mod:`kuchikomi.japanese`). Scripts should read the JSON API instead.

Review text, author names and URLs are written by strangers. A cell starting with ``=``, ``+``,
``-`` or ``@`` (or a tab/CR) is a formula to Excel and LibreOffice — ``=HYPERLINK(...)`` or worse —
so such cells get a leading apostrophe (OWASP's "CSV injection" advice), which the spreadsheet
shows as text. Shared by the CLI (``--format csv``) and the web export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from kuchikomi.japanese import CATEGORY_JA, DECISION_JA, LABEL_JA, jst_minute
from kuchikomi.schemas import ReviewPublic

# Spreadsheet programs execute cells that start with these; a leading quote keeps them text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Excel only reads a CSV file as UTF-8 when it starts with a byte order mark; without one,
# Japanese text shows as mojibake on Japanese Windows (which assumes Shift_JIS).
UTF8_BOM = "\ufeff"


def csv_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


# (header shown to staff, ReviewPublic field). A field written as "field:ja" is shown in
# Japanese (the names below); the plain "field" column next to it keeps the code.
REVIEW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("口コミID", "id"),
    ("医療機関ID", "clinic_id"),
    ("医療機関", "clinic_name"),
    ("掲載ページ", "listing_url"),
    ("口コミURL", "url"),
    ("投稿者", "author"),
    ("評価", "rating"),
    ("投稿日時（日本時間）", "posted_at"),
    ("投稿日（表示）", "posted_at_raw"),
    ("初回確認日時（日本時間）", "first_seen_at"),
    ("削除確認日時（日本時間）", "removed_at"),
    ("判定", "label:ja"),
    ("判定コード", "label"),
    ("分類", "category:ja"),
    ("分類コード", "category"),
    ("有害確率", "harmful_probability"),
    ("要確認", "flagged"),
    ("理由", "reasons"),
    ("担当者の判断", "decision:ja"),
    ("判断コード", "decision"),
    # The decision judged an earlier wording: the text was rewritten on the site after it.
    ("判断後に本文変更", "edited_after_decision"),
    ("本文", "text"),
)

_NAMES_JA = {"label": LABEL_JA, "category": CATEGORY_JA, "decision": DECISION_JA}


def _value(data: dict[str, Any], key: str) -> Any:
    field, _, form = key.partition(":")
    value = data.get(field)
    if form == "ja" and value is not None:
        return _NAMES_JA[field].get(value, value)
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, datetime):
        return jst_minute(value)
    if isinstance(value, list):
        return " / ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return csv_safe(value)


def review_csv_lines(
    reviews: Iterable[ReviewPublic], columns: Sequence[tuple[str, str]] | None = None
) -> Iterator[str]:
    """The CSV document line by line (BOM first), for streaming responses."""
    columns = list(columns or REVIEW_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([header for header, _ in columns])
    yield UTF8_BOM + flush()
    for review in reviews:
        data = review.model_dump()
        writer.writerow([_cell(_value(data, key)) for _, key in columns])
        yield flush()
