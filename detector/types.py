"""Plain data in and out of the detectors: review columns in, burst candidates out.

The detectors never see the database. Callers (``kuchikomi.services.bursts``, the benchmark) hand
over one :class:`ReviewArrays` — parallel numpy columns, one row per review — and receive
:class:`BurstCandidate` objects. Columns rather than objects because a nationwide history is
millions of reviews and the timeline detectors are vectorised over clinics.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

# Burst kinds (the ``kind`` field of burst records).
VOLUME = "volume"  # more new reviews than the clinic's own baseline allows
HARMFUL = "harmful"  # more flagged reviews than the baseline of flagged reviews allows
RATING_DROP = "rating_drop"  # the average rating of a window fell sharply below the baseline
DUPLICATE = "duplicate"  # near-duplicate texts, within one clinic or across clinics
AUTHOR = "author"  # one author posting repeatedly about one clinic, or about many clinics

KINDS = (VOLUME, HARMFUL, RATING_DROP, DUPLICATE, AUTHOR)


@dataclass(frozen=True)
class ReviewPoint:
    """One review as the detectors see it. ``time`` is the burst time (see ``detector.timing``)."""

    review_id: int
    clinic_id: int
    time: datetime
    author: str | None = None
    text: str = ""
    flagged: bool = False
    rating: float | None = None


@dataclass
class ReviewArrays:
    """Parallel columns, one row per review.

    ``author`` holds integer codes (-1 = anonymous or unknown; the same code means the same
    author across clinics); ``texts`` may be None when the duplicate detector is not wanted.
    """

    review_id: np.ndarray  # int64
    clinic_id: np.ndarray  # int64
    time: np.ndarray  # float64, seconds since the Unix epoch (UTC)
    flagged: np.ndarray  # bool
    rating: np.ndarray  # float64, NaN when the source has no star rating
    author: np.ndarray  # int64 codes, -1 = anonymous
    texts: list[str] | None = None
    author_names: list[str] = field(default_factory=list)  # code -> display name

    def __post_init__(self) -> None:
        n = len(self.review_id)
        for name in ("clinic_id", "time", "flagged", "rating", "author"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, expected {n}")
        if self.texts is not None and len(self.texts) != n:
            raise ValueError(f"texts has {len(self.texts)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.review_id)

    @classmethod
    def from_points(cls, points: Sequence[ReviewPoint]) -> ReviewArrays:
        codes: dict[str, int] = {}
        names: list[str] = []
        author = np.full(len(points), -1, dtype=np.int64)
        for i, point in enumerate(points):
            key = author_key(point.author)
            if key is None:
                continue
            if key not in codes:
                codes[key] = len(names)
                names.append((point.author or "").strip())
            author[i] = codes[key]
        return cls(
            review_id=np.array([p.review_id for p in points], dtype=np.int64),
            clinic_id=np.array([p.clinic_id for p in points], dtype=np.int64),
            time=np.array([_epoch(p.time) for p in points], dtype=np.float64),
            flagged=np.array([p.flagged for p in points], dtype=bool),
            rating=np.array(
                [np.nan if p.rating is None else float(p.rating) for p in points], dtype=np.float64
            ),
            author=author,
            texts=[p.text for p in points],
            author_names=names,
        )


@dataclass
class BurstCandidate:
    """A detected burst for one clinic.

    ``start``/``end`` bound the burst (end exclusive for day windows). ``observed`` and
    ``expected`` are review counts for volume/harmful bursts; for the other kinds see
    ``details['score_meaning']``. ``alarm_at`` is the earliest moment the detector could have
    raised it from the data available then (the end of the first significant window).
    """

    clinic_id: int
    kind: str
    start: datetime
    end: datetime
    observed: float
    expected: float
    score: float
    review_ids: list[int]
    harmful_share: float
    alarm_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


# Display names that say nothing about who posted: never evidence of one persistent author.
_ANONYMOUS_NAMES = {
    "",
    "匿名",
    "匿名希望",
    "匿名さん",
    "名無し",
    "名無しさん",
    "ななし",
    "ゲスト",
    "ゲストさん",
    "ユーザー",
    "利用者",
    "患者",
    "通院患者",
    "口コミ投稿者",
    "投稿者",
    "anonymous",
    "guest",
    "agoogleuser",
    "googleuser",
    "googleユーザー",
    "unknown",
}


def author_key(name: str | None) -> str | None:
    """A comparable author key, or None for anonymous/age-and-gender placeholders.

    Portals often show "30代 女性" or "匿名" instead of a name; thousands of people share those,
    so they must never count as one author posting repeatedly.
    """
    if name is None:
        return None
    key = unicodedata.normalize("NFKC", name).casefold()
    key = "".join(ch for ch in key if not ch.isspace() and ch not in "・.,、。_-()（）[]「」")
    if key in _ANONYMOUS_NAMES:
        return None
    stripped = key
    for token in (
        "さん",
        "様",
        "代",
        "歳",
        "才",
        "男性",
        "女性",
        "男",
        "女",
        "以上",
        "以下",
        "前半",
        "後半",
        "患者",
        "の",
        "ぐらい",
        "くらい",
        "未満",
        "10",
        "20",
        "30",
        "40",
        "50",
        "60",
        "70",
        "80",
        "90",
    ):
        stripped = stripped.replace(token, "")
    if not stripped or stripped.isdigit():
        return None
    return key


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the detector; times must be timezone-aware")
    return value.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)
