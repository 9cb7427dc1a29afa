"""Re-classifying stored reviews in several processes gives exactly what one process gives."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier import Classifier
from classifier.corpus import HELDOUT_FILE, read_tsv
from kuchikomi.services.classification import classify_reviews
from models import Classification
from tests.api.factories import make_clinic, make_review

COLUMNS = ("label", "category", "harmful_probability", "flagged", "reasons", "model_version")


def _stored(session: Session) -> dict[int, tuple[object, ...]]:
    session.expire_all()
    rows = session.scalars(select(Classification)).all()
    return {row.review_id: tuple(getattr(row, c) for c in COLUMNS) for row in rows}


def test_several_processes_classify_like_one(session: Session, model: Classifier) -> None:
    assert model.path is not None  # the workers load the model from its file
    clinic = make_clinic(session, "さくら内科")
    texts = [e.text for e in read_tsv(HELDOUT_FILE)[::15]] + ["", "😀"]
    for text in texts:
        make_review(session, clinic.listings[0], text=text)
    session.commit()

    one = classify_reviews(
        session=session, only_unclassified=False, model=model, progress=False, batch_size=7
    )
    session.commit()
    single = _stored(session)
    session.execute(Classification.__table__.delete())
    session.commit()
    several = classify_reviews(
        session=session,
        only_unclassified=False,
        model=model,
        progress=False,
        batch_size=7,
        workers=2,
    )
    session.commit()

    assert one == several == len(texts)
    assert _stored(session) == single
    assert sum(flagged for _, _, _, flagged, _, _ in single.values()) > 0
