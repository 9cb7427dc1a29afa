"""``kuchikomi reviews import``: both formats, bad lines by number, idempotent re-import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from models import Burst, Classification, Review
from tests.api.factories import make_clinic

runner = CliRunner()

ATTACK = "院長は患者から不正に高額な料金を請求している。受付も最悪、絶対に行くな。"


def _cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _line(listing_url: str, n: int, **over: object) -> str:
    posted = datetime(2025, 1, 6, 3, 0, tzinfo=UTC) + timedelta(days=3 * n)
    row = {
        "listing_url": listing_url,
        "external_id": f"r{n}",
        "author": f"利用者{n}",
        "rating": 4,
        "text": f"{n}回目の通院です。先生の説明が丁寧で安心しました。",
        "posted_at": posted.isoformat(),
        "first_seen_at": (posted + timedelta(hours=5)).isoformat(),
    }
    row.update(over)
    return json.dumps(row, ensure_ascii=False)


def test_jsonl_import_reports_bad_lines_and_reimport_changes_nothing(
    model_env: Path, session: Session, tmp_path: Path
) -> None:
    clinic = make_clinic(session, "さくら内科")
    url = clinic.listings[0].url
    lines = [_line(url, n) for n in range(60)]
    # A one-day campaign of twelve copy-paste attacks, months into a quiet history.
    campaign_day = "2025-06-20T10:00:00+09:00"
    lines += [
        _line(url, 100 + k, text=ATTACK, rating=1, author=None, posted_at=campaign_day)
        for k in range(12)
    ]
    bad = {
        3: "{not json",
        7: _line("https://unknown.example.jp/x", 900),
        9: _line(url, 901, posted_at="2025-13-45"),
        11: _line(url, 902, rating=7),
        13: _line(url, 5),  # the same review twice in the file
        15: json.dumps({"listing_url": url, "text": "idなし"}),
    }
    for number in sorted(bad):
        lines.insert(number - 1, bad[number])
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = _cli("reviews", "import", str(path), "--format", "jsonl")
    assert code == 1, err
    assert "imported 72" in out and "skipped 6" in out
    for number in bad:
        assert f"export.jsonl:{number}:" in err
    assert "unknown listing" in err and "posted_at" in err and "rating" in err
    assert "twice" in err and "external_id" in err

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Review)) == 72
    assert session.scalar(select(func.count()).select_from(Classification)) == 72
    stored = session.scalars(select(Review).where(Review.external_id == "r0")).one()
    assert stored.posted_at == datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
    assert stored.posted_at_exact and stored.rating == 4.0 and stored.author == "利用者0"
    kinds = {b.kind for b in session.scalars(select(Burst))}
    assert {"volume", "duplicate"} <= kinds
    before = [
        (b.id, b.kind, b.start, b.end, b.review_ids)
        for b in session.scalars(select(Burst).order_by(Burst.id))
    ]

    code, out, err = _cli("reviews", "import", str(path), "--format", "jsonl")
    assert code == 1
    assert "imported 0" in out and "already present 72" in out
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Review)) == 72
    after = [
        (b.id, b.kind, b.start, b.end, b.review_ids)
        for b in session.scalars(select(Burst).order_by(Burst.id))
    ]
    assert after == before


def test_apify_export_with_listing_option(
    model_env: Path, session: Session, tmp_path: Path
) -> None:
    clinic = make_clinic(session, "みどり歯科")
    url = clinic.listings[0].url
    items = [
        {
            "reviewId": "ChZDSUhNMG9nS0VJQ0FnSUR",
            "name": "Taro Yamada",
            "stars": 5,
            "text": "とても丁寧な治療でした。",
            "publishedAtDate": "2025-02-03T04:05:06.000Z",
            "reviewUrl": "https://www.google.com/maps/reviews/data=abc",
            "responseFromOwnerText": None,
        },
        {
            "reviewId": "second",
            "name": "Hanako",
            "stars": 2,
            "text": None,
            "publishedAtDate": "2025-02-04T00:00:00.000Z",
            "reviewUrl": "https://www.google.com/maps/reviews/data=def",
        },
        {"reviewId": "third", "stars": "five", "publishedAtDate": "yesterday"},
    ]
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")

    code, out, err = _cli("reviews", "import", str(path), "--format", "apify", "--listing", url)
    assert code == 1, err
    assert "imported 2" in out
    # Problems name the line where the item starts in the pretty-printed array.
    lines = path.read_text(encoding="utf-8").splitlines()
    third_line = max(i for i, line in enumerate(lines) if line == "  {") + 1
    assert f"dataset.json:{third_line}: 'publishedAtDate'" in err

    session.expire_all()
    first = session.scalars(select(Review).where(Review.external_id == items[0]["reviewId"])).one()
    assert first.author == "Taro Yamada" and first.rating == 5.0
    assert first.posted_at == datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert first.url == items[0]["reviewUrl"]
    assert first.listing_id == clinic.listings[0].id

    code, out, _ = _cli("reviews", "import", str(path), "--format", "apify", "--listing", url)
    assert "imported 0" in out and "already present 2" in out


def test_unreadable_files_are_usage_errors_and_write_nothing(
    model_env: Path, session: Session, tmp_path: Path
) -> None:
    clinic = make_clinic(session)
    missing = tmp_path / "missing.jsonl"
    code, _, err = _cli("reviews", "import", str(missing))
    assert code == 2 and "cannot read" in err
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(_line(clinic.listings[0].url, 1).encode("utf-8") + b"\n\xff\xfe\n")
    code, _, err = _cli("reviews", "import", str(latin))
    assert code == 2 and "UTF-8" in err
    broken = tmp_path / "broken.json"
    broken.write_text('[{"reviewId": "a"},\n {"reviewId": ', encoding="utf-8")
    code, _, err = _cli("reviews", "import", str(broken), "--format", "apify")
    assert code == 2 and "line 2" in err
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Review)) == 0


def test_hostile_lines_are_reported_and_skipped_and_the_rest_imported(
    model_env: Path, session: Session, tmp_path: Path
) -> None:
    """Dates Python cannot even represent, NUL and lone surrogates, oversized text: each one a
    reported line, never a traceback that loses the whole file (docs/contracts.md#text-limits)."""
    url = make_clinic(session, "さくら内科").listings[0].url

    def line(n: int, **over: object) -> str:
        row = json.loads(_line(url, n))
        row.update(over)
        # ensure_ascii: NUL and lone surrogates are written as the JSON escapes a file holds.
        return json.dumps(row)

    lines = {
        1: line(1),
        2: line(2, posted_at="0001-01-01"),  # before the start of UTC: OverflowError
        3: line(3, posted_at="9999-12-31"),  # a date without time is range-checked too
        4: line(4, posted_at="9999-12-31T23:59:59-12:00"),
        5: line(5, first_seen_at="1989-12-31T12:00:00+09:00"),
        6: line(6, external_id="r6\u0000"),  # an identifier that normalising would change
        7: line(7, listing_url=url + "\ud800"),
        8: line(8, text="長文" * 50_001),  # 100,002 characters
        9: line(9, text="受付の\u0000対応が\ud800悪い。"),  # text is normalised, not refused
        10: line(10, author="\u0000山田\udfff"),
        11: line(11),
    }
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines.values()) + "\n", encoding="utf-8")

    code, out, err = _cli("reviews", "import", str(path))

    assert code == 1, err
    assert "Traceback" not in err
    assert "imported 4" in out and "skipped 7" in out
    for number in (2, 3, 4, 5, 6, 7, 8):
        assert f"hostile.jsonl:{number}:" in err
    for number in (1, 9, 10, 11):
        assert f"hostile.jsonl:{number}:" not in err
    assert "'posted_at' is outside 1990–2100" in err
    assert "'first_seen_at' is outside 1990–2100" in err
    assert "'external_id' contains NUL or a lone surrogate" in err
    assert "'listing_url' contains NUL or a lone surrogate" in err
    assert "100,002 characters long" in err and "at most 100,000" in err
    session.expire_all()
    stored = {r.external_id: r for r in session.scalars(select(Review))}
    assert sorted(stored) == ["r1", "r10", "r11", "r9"]
    assert stored["r9"].text == "受付の対応が\ufffd悪い。"
    assert stored["r10"].author == "山田\ufffd"
