"""What one review costs near-duplicate detection is bounded: only its first ``max_chars``
characters are compared, however long it is (docs/contracts.md#text-limits)."""

from __future__ import annotations

import random

import numpy as np

from detector.duplicates import DuplicateParams, duplicate_clusters

# The documented prefix (docs/contracts.md#text-limits).
LIMIT = 5_000


def _kanji(n: int, seed: int) -> str:
    """``n`` random ideographs: text whose 2-grams almost never repeat."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FA0)) for _ in range(n))


def test_only_the_first_max_chars_of_each_text_are_compared() -> None:
    limit = LIMIT
    copied = _kanji(limit * 3 // 5, seed=1)  # the campaign's text
    texts = [
        copied,
        copied[:-40] + _kanji(40, seed=2),  # reworded at the end
        # The copy opens a review 40 times the limit long: its prefix is still mostly the copy.
        copied + _kanji(limit * 40, seed=3),
        # The copy only after the limit: not compared, so not a copy.
        _kanji(limit, seed=4) + copied,
        _kanji(limit, seed=5),
    ]

    clusters = duplicate_clusters(texts, times=np.zeros(len(texts)))

    assert clusters == [[0, 1, 2]]
    assert DuplicateParams().max_chars == LIMIT
