"""``kuchikomi reviews list``: the JSON and CSV contracts (docs/contracts.md) and the filters."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.cli.reviews import CSV_COLUMNS
from tests.api.factories import make_clinic, make_review

runner = CliRunner()

CONTRACT_FIELDS = [
    "id", "clinic_id", "listing_url", "external_id", "author", "rating", "posted_at",
    "first_seen_at", "removed_at", "text", "url", "label", "category", "harmful_probability",
    "flagged",
]  # fmt: skip


def _setup(session: Session) -> dict[str, int]:
    a = make_clinic(session, "A内科")
    b = make_clinic(session, "B眼科")
    ids = {
        "a_high": make_review(
            session, a.listings[0], text="ヤブ医者", probability=0.9, category="insult"
        ).id,
        "a_crit": make_review(session, a.listings[0], text="待ち時間が長い", probability=0.2).id,
        "a_new": make_review(session, a.listings[0], text="未分類の口コミ").id,
        "b_mid": make_review(
            session,
            b.listings[0],
            text="院長は隠蔽している",
            probability=0.7,
            category="defamation",
            removed_at=datetime(2025, 5, 1, 3, 0, tzinfo=UTC),
        ).id,
    }
    ids["a"], ids["b"] = a.id, b.id
    return ids


def _json(args: list[str]) -> list[dict[str, object]]:
    result = runner.invoke(app, ["reviews", "list", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_json_has_the_contract_fields_and_iso_times(session: Session) -> None:
    ids = _setup(session)

    rows = _json([])

    assert [r["id"] for r in rows] == sorted(
        [ids["a_high"], ids["a_crit"], ids["a_new"], ids["b_mid"]], reverse=True
    )
    for row in rows:
        assert set(CONTRACT_FIELDS) <= row.keys()
    removed = next(r for r in rows if r["id"] == ids["b_mid"])
    assert datetime.fromisoformat(removed["removed_at"]) == datetime(2025, 5, 1, 3, tzinfo=UTC)  # type: ignore[arg-type]
    assert datetime.fromisoformat(removed["posted_at"]).utcoffset() is not None  # type: ignore[arg-type]
    assert datetime.fromisoformat(removed["first_seen_at"]).utcoffset() is not None  # type: ignore[arg-type]
    assert (removed["category"], removed["harmful_probability"], removed["flagged"]) == (
        "defamation",
        0.7,
        True,
    )
    unclassified = next(r for r in rows if r["id"] == ids["a_new"])
    assert (unclassified["label"], unclassified["flagged"]) == (None, False)


def test_flagged_and_clinic_filters(session: Session) -> None:
    ids = _setup(session)

    assert [r["id"] for r in _json(["--flagged"])] == [ids["a_high"], ids["b_mid"]]
    assert [r["id"] for r in _json(["--flagged", "--clinic", str(ids["b"])])] == [ids["b_mid"]]
    assert {r["id"] for r in _json(["--clinic", str(ids["a"])])} == {
        ids["a_high"],
        ids["a_crit"],
        ids["a_new"],
    }
    assert [r["id"] for r in _json(["--flagged", "--category", "insult"])] == [ids["a_high"]]


def test_unknown_clinic_is_a_usage_error(session: Session) -> None:
    _setup(session)
    result = runner.invoke(app, ["reviews", "list", "--clinic", "987654"])
    assert result.exit_code == 2
    assert "987654" in result.stderr
    assert result.stdout == ""


def test_empty_database_prints_an_empty_array(session: Session) -> None:
    assert _json(["--flagged"]) == []


def test_csv_neutralises_formulas_and_keeps_iso_times(session: Session) -> None:
    listing = make_clinic(session, '=HYPERLINK("http://evil.example")').listings[0]
    review = make_review(
        session,
        listing,
        author="=cmd|' /C calc'!A0",
        text="+81 と書けば数式になる",
        probability=0.8,
        category="threat",
        reasons=["-「殺す」"],
    )
    plain = make_review(session, listing, author="普通の人", text="普通の感想")

    result = runner.invoke(app, ["reviews", "list", "--format", "csv"])

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert CSV_COLUMNS[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    by_id = {int(r["id"]): r for r in rows}
    row = by_id[review.id]
    assert row["author"] == "'=cmd|' /C calc'!A0"
    assert row["text"] == "'+81 と書けば数式になる"
    assert row["clinic_name"] == '\'=HYPERLINK("http://evil.example")'
    assert row["flagged"] == "true"
    assert row["harmful_probability"] == "0.8"
    assert datetime.fromisoformat(row["posted_at"]) == review.posted_at
    assert datetime.fromisoformat(row["first_seen_at"]) == review.first_seen_at
    assert json.loads(row["reasons"]) == ["-「殺す」"]
    assert by_id[plain.id]["author"] == "普通の人"
    assert by_id[plain.id]["flagged"] == "false"
    for value in (v for r in rows for v in r.values()):
        assert not value.startswith(("=", "+", "-", "@")), value


def test_table_shows_untrusted_text_literally(session: Session) -> None:
    listing = make_clinic(session).listings[0]
    make_review(session, listing, text="[bold red]太字[/bold red]", probability=0.9)

    result = runner.invoke(app, ["reviews", "list", "--flagged"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert "[bold red]太字[/bold red]" in result.stdout
