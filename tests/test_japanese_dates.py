"""Japanese dates are written one way on every page and document (kuchikomi/japanese.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kuchikomi.japanese import ja_date, ja_datetime, ja_day_range
from kuchikomi.services.evidence.base import jst


def test_a_moment_is_dated_by_its_day_in_japan() -> None:
    late_evening_utc = datetime(2025, 3, 3, 20, 30, tzinfo=UTC)  # 05:30 the next day in Japan
    assert ja_date(late_evening_utc) == "2025年3月4日"
    assert ja_datetime(late_evening_utc) == "2025年3月4日 05:30"
    assert ja_date(None) == "不明"


def test_day_ranges_repeat_the_year_only_when_it_changes() -> None:
    assert ja_day_range(date(2025, 5, 1), date(2025, 5, 1)) == "2025年5月1日"
    assert ja_day_range(date(2025, 5, 1), date(2025, 5, 2)) == "2025年5月1日〜5月2日"
    # Written with zero-padded months before ("〜2025年01月02日"), unlike every other date.
    assert ja_day_range(date(2024, 12, 31), date(2025, 1, 2)) == "2024年12月31日〜2025年1月2日"


def test_evidence_times_give_japan_time_and_the_utc_instant() -> None:
    moment = datetime(2025, 3, 3, 20, 30, 5, tzinfo=UTC)
    assert jst(moment) == "2025年3月4日 05:30:05 (JST) / 2025-03-03T20:30:05Z"
