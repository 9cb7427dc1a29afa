"""The crawl pipeline classifies reviews while the crawler stores them: each review gets what
classifying it after the crawl gives, and an edit stored meanwhile never keeps a verdict on the
earlier wording."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier import Classifier
from classifier.corpus import HELDOUT_FILE, read_tsv
from crawler import store
from crawler.items import ReviewItem, ReviewPageItem, review_content_hash
from kuchikomi.services.classification import classify_reviews
from kuchikomi.services.pipeline import ClassifyDuringCrawl
from models import Classification, Review
from models.base import utcnow
from models.db import new_session
from tests.api.factories import make_clinic, make_review

COLUMNS = ("label", "category", "harmful_probability", "flagged", "reasons", "model_version")


def _stored(session: Session) -> dict[int, tuple[object, ...]]:
    session.expire_all()
    rows = session.scalars(select(Classification)).all()
    return {row.review_id: tuple(getattr(row, c) for c in COLUMNS) for row in rows}


def test_reviews_stored_during_the_crawl_are_classified_as_after_it(
    model_env: Path, session: Session, model: Classifier
) -> None:
    listing = make_clinic(session, "さくら内科").listings[0]
    texts = [e.text for e in read_tsv(HELDOUT_FILE)[::20]][:29] + [""]
    # Batches of ten rather than the pipeline's 500 (see ClassifyDuringCrawl): a few dozen texts.
    during = ClassifyDuringCrawl(min_batch=10)
    during.start()
    try:
        # Stored the way the crawler stores them: a committed batch at a time.
        for start in range(0, len(texts), 10):
            for text in texts[start : start + 10]:
                make_review(session, listing, text=text, commit=False)
            session.commit()
            time.sleep(0.1)
        deadline = time.monotonic() + 120
        while during.classified < len(texts) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        during.stop()
    assert during.classified == len(texts)
    classified_during = _stored(session)
    assert len(classified_during) == len(texts)

    session.execute(Classification.__table__.delete())
    session.commit()
    classify_reviews(session=session, only_unclassified=True, model=model, progress=False)
    session.commit()
    assert _stored(session) == classified_during
    assert any(flagged for _, _, _, flagged, _, _ in classified_during.values())


def _item(external_id: str, text: str) -> ReviewItem:
    return ReviewItem(
        external_id=external_id,
        author="匿名",
        rating=1.0,
        text=text,
        posted_at=None,
        posted_at_raw=None,
        posted_at_exact=False,
        url=None,
        content_hash=review_content_hash(author="匿名", rating=1.0, text=text),
    )


def _store_edit(session: Session, review: Review, text: str) -> None:
    """The crawler stores a page on which ``review`` now reads ``text``."""
    page = ReviewPageItem(
        listing_id=review.listing_id,
        page_url="http://127.0.0.1/clinic/1",
        page_number=1,
        evidence_id=None,
        reviews=[_item(review.external_id, text)],
    )
    store._save_page(session, run_id=0, page=page, evidence_id=None, now=utcnow())
    session.commit()


class _EditedWhileClassifying:
    """The real model, while the crawler stores an edit of one review between the read of its
    text and the write of its classification."""

    def __init__(self, model: Classifier, review_id: int, new_text: str):
        self.model, self.review_id, self.new_text = model, review_id, new_text
        self.path = None

    def classify(self, texts: list[str]) -> Any:
        with new_session() as crawler_session:
            review = crawler_session.get(Review, self.review_id)
            assert review is not None
            _store_edit(crawler_session, review, self.new_text)
        return self.model.classify(texts)


def test_an_edit_stored_while_classifying_leaves_the_review_for_the_next_pass(
    session: Session, model: Classifier
) -> None:
    listing = make_clinic(session, "さくら内科").listings[0]
    kept = make_review(session, listing, text="受付の方が親切でした。")
    edited = make_review(session, listing, text="先生の説明が丁寧でした。")
    new_text = "院長は患者を脅す犯罪者だ。ただじゃおかないからな。"

    classify_reviews(
        session=session,
        model=_EditedWhileClassifying(model, edited.id, new_text),  # type: ignore[arg-type]
        progress=False,
    )
    session.commit()
    # No verdict on the earlier wording of the edited review; the other one is classified.
    assert set(_stored(session)) == {kept.id}

    assert classify_reviews(session=session, model=model, progress=False) == 1
    session.commit()
    session.expire_all()
    assert session.get(Review, edited.id).text == new_text  # type: ignore[union-attr]
    (expected,) = model.classify([new_text])
    assert _stored(session)[edited.id] == (
        expected.label,
        expected.category,
        expected.harmful_probability,
        expected.flagged,
        expected.reasons,
        expected.model_version,
    )
    assert expected.flagged


def test_an_edit_drops_a_classification_written_after_the_crawler_read_the_review(
    session: Session, model: Classifier
) -> None:
    listing = make_clinic(session, "さくら内科").listings[0]
    review = make_review(session, listing, text="先生の説明が丁寧でした。")
    with new_session() as crawler_session:
        # The crawler has read the review (unclassified then) ...
        seen = crawler_session.get(Review, review.id)
        assert seen is not None and seen.classification is None
        # ... the pipeline classifies its earlier wording meanwhile ...
        classify_reviews(session=session, model=model, progress=False)
        session.commit()
        assert set(_stored(session)) == {review.id}
        # ... and the crawler stores the edit.
        _store_edit(crawler_session, seen, "院長は患者を脅す犯罪者だ。ただじゃおかないからな。")
    assert _stored(session) == {}
