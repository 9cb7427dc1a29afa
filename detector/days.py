"""Days on the clinic's clock: review times binned into Japan-time calendar days.

Clinics, patients and weekday rhythms live in Asia/Tokyo (UTC+9, no daylight saving), so a
"day" is a JST calendar day: ``day = floor((epoch_seconds + 9 h) / 86400)``. Day 0 is
1970-01-01 JST, a Thursday, so ``weekday = (day + 3) % 7`` with Monday = 0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

JST_OFFSET_SECONDS = 9 * 3600
DAY_SECONDS = 86400


def day_index(epoch_seconds: np.ndarray) -> np.ndarray:
    return np.floor((epoch_seconds + JST_OFFSET_SECONDS) / DAY_SECONDS).astype(np.int64)


def weekday(day: np.ndarray | int) -> np.ndarray | int:
    return (day + 3) % 7


def day_start(day: int) -> datetime:
    """The UTC instant at which JST day ``day`` begins."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        seconds=day * DAY_SECONDS - JST_OFFSET_SECONDS
    )
