"""``kuchikomi bursts detect`` / ``list``: the JSON contract, scoping, idempotent re-detection."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from models import Burst
from tests.bursts.timelines import clinic_with_campaign, quiet_clinic

runner = CliRunner()
FIELDS = ["id", "clinic_id", "kind", "start", "end", "observed", "expected", "score", "review_ids"]


def _json(*args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["bursts", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_detect_finds_the_campaign_and_list_shows_it(session: Session) -> None:
    clinic, attack = clinic_with_campaign(session)
    quiet = quiet_clinic(session)

    detected = _json("detect")
    assert detected and {b["clinic_id"] for b in detected} == {clinic.id}
    for burst in detected:
        assert list(burst)[: len(FIELDS)] == FIELDS
    by_kind = {b["kind"]: b for b in detected}
    assert {"volume", "harmful", "duplicate", "rating_drop"} <= set(by_kind)
    volume = by_kind["volume"]
    assert set(attack) <= set(volume["review_ids"])
    assert volume["observed"] >= 12 and volume["expected"] < 2
    assert volume["start"] == "2025-04-15T15:00:00Z"  # 2025-04-16 in Japan
    assert by_kind["harmful"]["harmful_share"] == 1.0
    assert sorted(by_kind["duplicate"]["review_ids"]) == sorted(attack)

    listed = _json("list")
    assert sorted(b["id"] for b in listed) == sorted(b["id"] for b in detected)
    assert _json("list", "--clinic", str(quiet.id)) == []
    assert {b["clinic_id"] for b in _json("list", "--clinic", str(clinic.id))} == {clinic.id}


def test_detecting_again_changes_nothing(session: Session) -> None:
    clinic, _ = clinic_with_campaign(session)
    first = _json("detect", "--clinic", str(clinic.id))
    again = _json("detect", "--clinic", str(clinic.id))
    assert again == first
    assert _json("detect") == first
    assert session.scalar(select(func.count()).select_from(Burst)) == len(first)


def test_unknown_clinic_is_a_usage_error(session: Session) -> None:
    for command in ("detect", "list"):
        result = runner.invoke(app, ["bursts", command, "--clinic", "999999"])
        assert result.exit_code == 2
        assert "999999" in result.stderr


def test_table_output_names_the_kinds(session: Session) -> None:
    clinic_with_campaign(session)
    result = runner.invoke(app, ["bursts", "detect"])
    assert result.exit_code == 0, result.stderr
    assert "volume" in result.stdout and "duplicate" in result.stdout


def test_a_growing_burst_keeps_its_record_and_a_vanished_one_is_dropped(session: Session) -> None:
    from datetime import timedelta

    from models import Classification
    from tests.bursts.timelines import ATTACK, START, make_review

    clinic, attack = clinic_with_campaign(session)
    first = {b["kind"]: b for b in _json("detect", "--clinic", str(clinic.id))}

    # The campaign goes on the next day: the same records grow, none is added.
    listing = clinic.listings[0]
    added = [
        make_review(
            session,
            listing,
            text=ATTACK,
            author=None,
            rating=1.0,
            posted_at=START + timedelta(days=101, minutes=5 * k),
            probability=0.9,
            commit=False,
        )
        for k in range(10)
    ]
    session.commit()
    more = [r.id for r in added]
    grown = {b["kind"]: b for b in _json("detect", "--clinic", str(clinic.id))}
    assert set(grown) == set(first)
    for kind in ("volume", "harmful", "duplicate"):
        assert grown[kind]["id"] == first[kind]["id"]
        assert set(more) <= set(grown[kind]["review_ids"])
    assert session.scalar(select(func.count()).select_from(Burst)) == len(grown)

    # Staff-side re-classification: the posts are not flagged after all. The harmful burst
    # no longer holds and is dropped; the volume and duplicate bursts stay.
    for cls in session.scalars(select(Classification)):
        cls.flagged = False
    session.commit()
    after = {b["kind"]: b for b in _json("detect", "--clinic", str(clinic.id))}
    assert "harmful" not in after
    assert after["volume"]["id"] == first["volume"]["id"]
    assert after["volume"]["harmful_share"] == 0.0
    assert set(attack) <= set(after["duplicate"]["review_ids"])
