"""Japanese review dates: absolute ones exact (JST unless a zone is given), relative estimated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.dates import parse_japanese_date

NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)  # 2025-06-01 12:00 JST


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025年3月4日", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("2025年03月04日投稿", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("投稿日：２０２５年３月４日", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("2025年03月04日 14:30", datetime(2025, 3, 4, 5, 30, tzinfo=UTC)),
        ("2025年3月4日 9時05分", datetime(2025, 3, 4, 0, 5, tzinfo=UTC)),
        ("令和7年3月4日", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("平成元年1月8日", datetime(1989, 1, 7, 15, 0, tzinfo=UTC)),
        ("2025/03/04", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("2025/3/4 9:05", datetime(2025, 3, 4, 0, 5, tzinfo=UTC)),
        ("2025.3.4", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("2025-03-04", datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
        ("2025-03-04T05:06:07+09:00", datetime(2025, 3, 3, 20, 6, 7, tzinfo=UTC)),
        ("2025-03-04T05:06:07Z", datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2025-03-04T05:06:07.123-05:00", datetime(2025, 3, 4, 10, 6, 7, tzinfo=UTC)),
    ],
)
def test_absolute_dates_are_exact_and_japan_time_by_default(text: str, expected: datetime) -> None:
    parsed = parse_japanese_date(text, now=NOW)
    assert parsed.value == expected
    assert parsed.exact is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3日前", datetime(2025, 5, 29, 3, 0, tzinfo=UTC)),
        ("三日前", datetime(2025, 5, 29, 3, 0, tzinfo=UTC)),
        ("１０日前", datetime(2025, 5, 22, 3, 0, tzinfo=UTC)),
        ("2か月前", datetime(2025, 4, 1, 3, 0, tzinfo=UTC)),
        ("3ヶ月前", datetime(2025, 3, 1, 3, 0, tzinfo=UTC)),
        ("1年前", datetime(2024, 6, 1, 3, 0, tzinfo=UTC)),
        ("2週間前", datetime(2025, 5, 18, 3, 0, tzinfo=UTC)),
        ("十二時間前", datetime(2025, 5, 31, 15, 0, tzinfo=UTC)),
        ("5分前", datetime(2025, 6, 1, 2, 55, tzinfo=UTC)),
        ("昨日", datetime(2025, 5, 31, 3, 0, tzinfo=UTC)),
        ("一昨日", datetime(2025, 5, 30, 3, 0, tzinfo=UTC)),
        ("今日", NOW),
    ],
)
def test_relative_dates_are_estimates(text: str, expected: datetime) -> None:
    parsed = parse_japanese_date(text, now=NOW)
    assert parsed.value == expected
    assert parsed.exact is False


def test_month_arithmetic_clamps_to_the_end_of_month() -> None:
    parsed = parse_japanese_date("1か月前", now=datetime(2025, 3, 31, 0, 0, tzinfo=UTC))
    assert parsed.value == datetime(2025, 2, 28, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", None, "口コミ", "2025年2月30日", "2025/13/01", "先週くらい"])
def test_no_date_or_an_impossible_one_gives_none(text: str | None) -> None:
    parsed = parse_japanese_date(text, now=NOW)
    assert parsed.value is None
    assert parsed.exact is False
