"""A review's cost to classify is bounded: only its first MAX_CHARS characters are read, however
long it is (docs/contracts.md#text-limits)."""

from __future__ import annotations

from classifier import Classifier
from classifier.text import MAX_CHARS, clean
from models.text import MAX_REVIEW_CHARS


def test_text_past_the_limit_is_not_read(model: Classifier) -> None:
    threat = "院長、夜道に気をつけろよ。家は知ってるからな"
    calm = ("待合室は広くて明るいです。" * 8_000)[:MAX_CHARS]

    within, past, far_past = model.classify([calm, calm + threat, calm + threat * 50_000])

    assert not within.flagged
    for result in (past, far_past):
        assert (result.label, result.harmful_probability) == (
            within.label,
            within.harmful_probability,
        )
        assert f"長文のため先頭{MAX_CHARS:,}字のみ解析" in result.reasons
    assert f"長文のため先頭{MAX_CHARS:,}字のみ解析" not in within.reasons
    assert clean(calm + threat * 50_000) == clean(calm)
    # Every review the database keeps is classified whole.
    assert MAX_REVIEW_CHARS == MAX_CHARS
