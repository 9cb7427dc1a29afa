"""Dates as Japanese review sites print them, turned into UTC datetimes. Pure parsing, no I/O.

Absolute dates (``2025年3月4日``, ``令和7年3月4日``, ``2025/03/04 14:30``, ISO 8601) are exact;
a date without a time zone is Japan time (JST, UTC+9, no daylight saving). Relative dates
(``3日前``, ``2か月前``, ``昨日``) are estimates against ``now`` and reported as not exact, so that
bursts can be timed by first-seen time instead (docs/operations.md).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

JST = timezone(timedelta(hours=9), "JST")

# Japanese eras still met on pages; year 1 of an era is written 元年.
_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925}

_KANJI_DIGITS = {ch: n for n, ch in enumerate("〇一二三四五六七八九")}

_TIME = r"(?:\s*(?P<hour>\d{1,2})(?::|時)(?P<minute>\d{1,2})(?:(?::|分)(?P<second>\d{1,2})秒?)?)?"
_JA_DATE = re.compile(
    r"(?:(?P<era>令和|平成|昭和)(?P<era_year>\d{1,2}|元)|(?P<year>\d{4}))\s*年\s*"
    r"(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日" + _TIME
)
_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?P<year>\d{4})(?P<sep>[/.\-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?!\d)"
    r"(?:[T\s]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"\s*(?P<tz>Z|[+\-]\d{2}:?\d{2})?)?"
)
_RELATIVE = re.compile(
    r"(?P<n>\d+|[〇一二三四五六七八九十]+)\s*"
    r"(?P<unit>秒|分|時間|日|週間|週|か月|カ月|ヶ月|ケ月|ヵ月|箇月|ヶ年|年)\s*前"
)
# Longest first: 一昨日 must not be read as 昨日.
_WORDS = (
    ("たった今", timedelta(0)),
    ("一昨日", timedelta(days=2)),
    ("おととい", timedelta(days=2)),
    ("昨日", timedelta(days=1)),
    ("今日", timedelta(0)),
    ("本日", timedelta(0)),
)


class ParsedDate(NamedTuple):
    value: datetime | None
    exact: bool


UNKNOWN = ParsedDate(None, False)


def parse_japanese_date(text: str | None, *, now: datetime | None = None) -> ParsedDate:
    """Parse the first date found in ``text``; ``ParsedDate(None, False)`` when there is none."""
    if not text:
        return UNKNOWN
    # NFKC turns full-width digits and colons (２０２５年３月４日, １２：３０) into ASCII.
    text = unicodedata.normalize("NFKC", text).strip()
    for parse in (_parse_numeric, _parse_japanese):
        parsed = parse(text)
        if parsed is not None:
            return ParsedDate(parsed, True)
    estimated = _parse_relative(text, now or datetime.now(UTC))
    if estimated is not None:
        return ParsedDate(estimated, False)
    return UNKNOWN


def _build(
    year: int,
    month: int,
    day: int,
    hour: str | None,
    minute: str | None,
    second: str | None,
    tz: timezone = JST,
) -> datetime | None:
    try:
        local = datetime(
            year, month, day, int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:  # 2025年2月30日 and the like: not a date, not a guess
        return None
    return local.astimezone(UTC)


def _parse_japanese(text: str) -> datetime | None:
    match = _JA_DATE.search(text)
    if match is None:
        return None
    if match["era"]:
        era_year = 1 if match["era_year"] == "元" else int(match["era_year"])
        year = _ERAS[match["era"]] + era_year
    else:
        year = int(match["year"])
    return _build(
        year,
        int(match["month"]),
        int(match["day"]),
        match["hour"],
        match["minute"],
        match["second"],
    )


def _parse_numeric(text: str) -> datetime | None:
    match = _NUMERIC_DATE.search(text)
    if match is None:
        return None
    tz = JST
    if match["tz"]:
        if match["tz"] == "Z":
            tz = UTC
        else:
            sign = -1 if match["tz"][0] == "-" else 1
            digits = match["tz"][1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return _build(
        int(match["year"]),
        int(match["month"]),
        int(match["day"]),
        match["hour"],
        match["minute"],
        match["second"],
        tz,
    )


def _kanji_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    # 十, 十二, 二十, 二十三: enough for "三日前" / "十二時間前".
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0)
    return int("".join(str(_KANJI_DIGITS[ch]) for ch in text))


def _months_before(moment: datetime, months: int) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    return moment.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    first_next = datetime(year + (month == 12), month % 12 + 1, 1)
    return (first_next - timedelta(days=1)).day


def _parse_relative(text: str, now: datetime) -> datetime | None:
    match = _RELATIVE.search(text)
    if match is not None:
        try:
            n = _kanji_number(match["n"])
        except KeyError:
            return None
        unit = match["unit"]
        if unit == "秒":
            return now - timedelta(seconds=n)
        if unit == "分":
            return now - timedelta(minutes=n)
        if unit == "時間":
            return now - timedelta(hours=n)
        if unit == "日":
            return now - timedelta(days=n)
        if unit.startswith("週"):
            return now - timedelta(weeks=n)
        if unit.endswith("年"):
            return _months_before(now, 12 * n)
        return _months_before(now, n)
    for word, delta in _WORDS:
        if word in text:
            return now - delta
    return None
