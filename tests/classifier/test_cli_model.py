"""``kuchikomi model eval`` (metrics on any labelled TSV) and ``kuchikomi model train`` (learns
from staff decisions, records the model, re-classifies the stored reviews)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from classifier.corpus import HELDOUT_FILE, load_corpus, write_tsv
from kuchikomi.cli import app
from models import Classification, Decision
from tests.api.factories import make_clinic, make_review

runner = CliRunner()


def test_eval_json_reports_every_metric_on_the_held_out_split(model_path: Path) -> None:
    result = runner.invoke(app, ["model", "eval", "--data", str(HELDOUT_FILE), "--format", "json"])

    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert m["model_version"] == model_path.stem
    assert set(m["per_label"]) == {"harmful", "criticism", "benign"}
    for values in m["per_label"].values():
        assert set(values) == {"precision", "recall", "f1", "support"}
    assert m["confusion"]["labels"] == ["harmful", "criticism", "benign"]
    matrix = m["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == m["n"] > 500
    assert m["accuracy"] == round(sum(matrix[i][i] for i in range(3)) / m["n"], 4)
    assert m["harmful_recall"] == m["per_label"]["harmful"]["recall"] >= 0.95
    assert m["criticism_flagged"] == round(matrix[1][0] / sum(matrix[1]), 4) <= 0.05
    assert 0 < m["macro_f1"] <= 1
    # Calibration under the assumed share of harmful reviews, and real neutral text.
    assert m["calibration"]["prior"] == 0.03 and 0 < m["calibration"]["brier"] < 0.03
    assert m["calibration"]["table"][0]["bin"].startswith("0.00")
    assert m["background"]["n"] > 5_000 and m["background"]["flagged"] <= 0.01
    print(
        f"held-out: accuracy {m['accuracy']}, macro-F1 {m['macro_f1']}, "
        f"harmful recall {m['harmful_recall']}, criticism flagged {m['criticism_flagged']}, "
        f"Brier {m['calibration']['brier']}, background flagged {m['background']['flagged']}"
    )


def test_eval_table_on_a_coarse_labelled_file(model_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "mine.tsv"
    data.write_text(
        "label\ttext\n"
        "harmful\t院長、帰り道には気をつけろよ。家族がどうなっても知らないぞ\n"
        "criticism\t説明が少なくて不安なまま帰りました。もう少し話を聞いてほしい\n"
        "benign\t駅から近くて通いやすいです\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["model", "eval", "--data", str(data), "--no-background"])

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "3 texts" in out and "accuracy 1.000" in out and "harmful recall 1.000" in out
    assert "criticism flagged 0.000" in out
    assert "per label" in out and "confusion matrix" in out
    assert "Brier score" in out and "reliability" in out
    assert "background" not in out


def test_eval_rejects_a_malformed_file_naming_the_line(model_path: Path, tmp_path: Path) -> None:
    no_header = tmp_path / "a.tsv"
    no_header.write_text("harmful\t殺す\n", encoding="utf-8")
    bad_label = tmp_path / "b.tsv"
    bad_label.write_text("label\ttext\nharmful\t殺す\nspam\t買って\n", encoding="utf-8")

    first = runner.invoke(app, ["model", "eval", "--data", str(no_header)])
    second = runner.invoke(app, ["model", "eval", "--data", str(bad_label)])

    assert first.exit_code == 2 and "a.tsv:1" in first.output
    assert second.exit_code == 2 and "b.tsv:3" in second.output and "'spam'" in second.output


def _small_corpus(directory: Path) -> Path:
    """A few dozen texts per label: training in seconds instead of a minute."""
    directory.mkdir()
    per_label: dict[str, int] = {}
    chosen = []
    for example in load_corpus():
        if per_label.get(example.label, 0) < 45:
            per_label[example.label] = per_label.get(example.label, 0) + 1
            chosen.append(example)
    write_tsv(directory / "small.tsv", chosen)
    return directory


def test_train_learns_from_staff_decisions_and_reclassifies_stored_reviews(
    session: Session, tmp_path: Path
) -> None:
    corpus = _small_corpus(tmp_path / "corpus")
    clinic = make_clinic(session, "みどり歯科")
    texts = [
        "ここの歯科は麻酔なしで削るって近所で評判。被害者の会まである",
        "予約したのに40分待ち。受付に聞いても返事が曖昧でした",
        "院長の車のナンバーはもう控えた",
        "とても丁寧に診てもらえました",
    ]
    reviews = [make_review(session, clinic.listings[0], text=t) for t in texts]
    # Before any decision, and not activated: nothing is re-classified.
    quick = ["--corpus", str(corpus), "--no-background", "--format", "json"]
    without = runner.invoke(app, ["model", "train", *quick, "--no-activate"])
    session.add_all(
        [
            Decision(review_id=reviews[0].id, decision="harmful", category="defamation"),
            Decision(review_id=reviews[1].id, decision="criticism"),
            # Only the latest decision counts: first harmful, then unsure → no example.
            Decision(review_id=reviews[2].id, decision="harmful", category="threat"),
            Decision(review_id=reviews[2].id, decision="unsure"),
        ]
    )
    session.commit()

    result = runner.invoke(app, ["model", "train", *quick])

    assert without.exit_code == 0, without.output
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["training"]["n_staff_decisions"] == 2
    assert json.loads(without.stdout)["training"]["n_staff_decisions"] == 0
    assert json.loads(without.stdout)["reclassified_reviews"] is None
    assert report["training_data_sha256"] != json.loads(without.stdout)["training_data_sha256"]
    assert report["active"] is True and Path(report["path"]).is_file()
    assert report["reclassified_reviews"] == len(texts)
    assert "分類中" in result.stderr  # the progress bar (stderr, never stdout)
    session.expire_all()
    versions = session.scalars(
        select(Classification.model_version).where(
            Classification.review_id.in_([r.id for r in reviews])
        )
    ).all()
    assert versions == [report["model_id"]] * len(texts)

    listed = runner.invoke(app, ["model", "list", "--format", "json"])
    models = {m["model_id"]: m for m in json.loads(listed.stdout)}
    assert models[report["model_id"]]["active"] is True
    assert models[json.loads(without.stdout)["model_id"]]["active"] is False
