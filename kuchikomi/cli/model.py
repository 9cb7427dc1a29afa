"""``kuchikomi model``: train, evaluate, list and activate classifier models.

``train`` learns from the shipped corpus plus staff decisions stored in the database (when the
database and its decision table exist), saves the model with its version, training-data hash,
metrics and threshold, activates it, and re-classifies every stored review with it.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from kuchikomi.cli.common import EXIT_FAILED, err_console, fail, print_json, print_table

app = typer.Typer(help="The classifier model.", no_args_is_help=True)


class ReportFormat(StrEnum):
    table = "table"
    json = "json"


def _database_ready() -> bool:
    """Whether a migrated database is reachable (training itself needs no database)."""
    from models.migrate import current_revision

    try:
        return current_revision() is not None
    except Exception:  # noqa: BLE001 - no database means: train from the corpus alone
        return False


@app.command("train")
def train(
    corpus: Path | None = typer.Option(
        None, "--corpus", help="Folder of label<TAB>text files (default: the shipped corpus)."
    ),
    activate: bool = typer.Option(
        True, "--activate/--no-activate", help="Make the new model the one in use."
    ),
    reclassify: bool = typer.Option(
        True,
        "--reclassify/--no-reclassify",
        help="Re-classify the stored reviews with the new model once it is active.",
    ),
    background: bool = typer.Option(
        True,
        "--background/--no-background",
        help="Train on the shipped real background text too (leave on except for quick trials).",
    ),
    format: ReportFormat = typer.Option(ReportFormat.table, "--format", help="table or json."),
) -> None:
    """Train a model, choose its threshold on validation data, report held-out metrics."""
    from classifier.corpus import BACKGROUND_FILE, SOURCE_DIR, CorpusError
    from classifier.training import train as train_model
    from kuchikomi.services.classification import (
        classify_reviews,
        default_workers,
        staff_decision_examples,
    )
    from models.db import session_scope

    corpus_dir = corpus or SOURCE_DIR
    if not corpus_dir.is_dir():
        fail(f"corpus folder {corpus_dir} does not exist")
    database = _database_ready()
    extra = []
    if database:
        with session_scope() as session:
            extra = staff_decision_examples(session)
    try:
        with err_console.status("学習中…"):
            trained = train_model(
                corpus_dir=corpus_dir,
                extra=extra,
                make_active=activate,
                background_file=BACKGROUND_FILE if background else None,
            )
    except CorpusError as exc:
        fail(str(exc))
    info = trained.classifier.info
    reclassified = None
    if activate and reclassify and database:
        with session_scope() as session:
            reclassified = classify_reviews(
                session=session,
                only_unclassified=False,
                model=trained.classifier,
                workers=default_workers(),
            )
    report = {
        "model_id": info.model_id,
        "path": str(trained.path),
        "active": activate,
        "training_data_sha256": info.training_data_sha256,
        "threshold": info.threshold,
        "training": info.training,
        "metrics": info.metrics,
        "reclassified_reviews": reclassified,
    }
    if format == ReportFormat.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        return
    test = info.metrics["test"]
    selection = info.metrics["threshold_selection"]
    lines = [
        f"model {info.model_id}{' (active)' if activate else ''}",
        f"  file: {trained.path}",
        f"  training data sha256: {info.training_data_sha256}",
        f"  trained on {info.training['n_train']} texts "
        f"({info.training['n_staff_decisions']} from staff decisions) "
        f"+ {info.training.get('n_background', 0)} background sentences, "
        f"{info.training['seconds']} s",
        f"  threshold {info.threshold:.4f} (validation: harmful recall "
        f"{selection['harmful_recall']:.3f}, criticism flagged {selection['criticism_flagged']:.3f}"
        f"{'' if selection['targets_met'] else ', TARGETS NOT MET'})",
        f"  held-out test ({test['n']} texts): accuracy {test['accuracy']:.3f}, "
        f"macro-F1 {test['macro_f1']:.3f}, harmful recall {test['harmful_recall']:.3f}, "
        f"criticism flagged {test['criticism_flagged']:.3f}",
    ]
    if "calibration" in info.metrics:
        calibration = info.metrics["calibration"]
        lines.append(
            f"  probabilities for {calibration['prior']:.1%} harmful reviews "
            f"(training data: {info.training_prior:.1%}); held-out Brier score "
            f"{calibration['brier']:.4f}"
        )
    if "background" in info.metrics:
        held_back = info.metrics["background"]
        lines.append(
            f"  real background text held back ({held_back['n']} sentences): "
            f"flagged {held_back['flagged']:.3%}"
        )
    if reclassified is not None:
        lines.append(f"  re-classified {reclassified} stored reviews")
    elif activate and reclassify:
        lines.append("  no migrated database: nothing to re-classify")
    sys.stdout.write("\n".join(lines) + "\n")


@app.command("eval")
def evaluate(
    data: Path = typer.Option(..., "--data", help="label<TAB>text file with a header line."),
    format: ReportFormat = typer.Option(ReportFormat.table, "--format", help="table or json."),
    model: Path | None = typer.Option(
        None, "--model", help="A .skops model file instead of the active model."
    ),
    background: bool = typer.Option(
        True,
        "--background/--no-background",
        help="Also report the flag rate on the held-back part of the real background text.",
    ),
) -> None:
    """Evaluate a model on a labelled TSV (labels harmful/criticism/benign or a category).

    Reports the labelled file's metrics, the calibration of the harmful probability (Brier
    score and reliability table, with the file re-weighted to the share of harmful reviews the
    model assumes), and the flag rate on real neutral sentences the model never trained on.
    """
    from classifier import ModelLoadError, ModelNotFoundError, load_model
    from classifier.corpus import CorpusError, load_background, read_tsv
    from classifier.evaluation import background_rate, calibration
    from classifier.evaluation import evaluate as compute
    from kuchikomi_settings import get_settings

    try:
        examples = read_tsv(data)
    except CorpusError as exc:
        fail(str(exc))
    if not examples:
        fail(f"{data} holds no labelled texts")
    from kuchikomi.services.classification import ensure_model

    try:
        classifier = load_model(model) if model else ensure_model(announce=True)
    except (ModelNotFoundError, ModelLoadError) as exc:
        fail(str(exc), EXIT_FAILED)
    results = classifier.classify([e.text for e in examples])
    metrics: dict[str, Any] = {
        "model_version": classifier.version,
        "threshold": classifier.threshold,
    }
    metrics |= compute(examples, results)
    prior = classifier.info.harmful_prior or get_settings().classifier.harmful_prior
    metrics["calibration"] = calibration(examples, results, prior)
    if background:
        try:
            heldback = load_background()["heldback"]
        except CorpusError as exc:
            fail(str(exc))
        metrics["background"] = background_rate(classifier.classify(heldback))
    if format == ReportFormat.json:
        sys.stdout.write(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
        return
    _print_metrics(metrics)


def _print_metrics(m: dict[str, Any]) -> None:
    out = Console(markup=False, highlight=False)
    out.print(f"model {m['model_version']} (threshold {m['threshold']:.4f}), {m['n']} texts")
    out.print(
        f"accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
        f"harmful recall {m['harmful_recall']:.3f}  "
        f"criticism flagged {m['criticism_flagged']:.3f}  "
        f"category accuracy {m['category_accuracy']:.3f}"
    )
    rows = [{"label": label, **values} for label, values in m["per_label"].items()]
    print_table(rows, ["label", "precision", "recall", "f1", "support"], title="per label")
    labels = m["confusion"]["labels"]
    confusion = [
        {"gold \\ predicted": gold, **dict(zip(labels, row, strict=True))}
        for gold, row in zip(labels, m["confusion"]["matrix"], strict=True)
    ]
    print_table(confusion, ["gold \\ predicted", *labels], title="confusion matrix")
    grey = m["grey"]
    if grey["n"]:
        out.print(
            f"grey zone: {grey['n']} texts, "
            f"mean harmful probability {grey['mean_probability']:.3f}, "
            f"flagged {grey['flagged']:.3f}"
        )
    calibration = m.get("calibration")
    if calibration and calibration["brier"] is not None:
        out.print(
            f"calibration (texts re-weighted to {calibration['prior']:.1%} harmful): "
            f"Brier score {calibration['brier']:.4f}"
        )
        print_table(
            calibration["table"],
            ["bin", "n", "weight", "mean_probability", "harmful_rate"],
            title="reliability",
        )
    background = m.get("background")
    if background:
        out.print(
            f"real background text held back from training ({background['n']} neutral "
            f"sentences): flagged {background['flagged']:.3%}, "
            f"99th percentile of the harmful probability {background['p99_probability']:.4f}"
        )


@app.command("list")
def list_models(
    format: ReportFormat = typer.Option(ReportFormat.table, "--format", help="table or json."),
) -> None:
    """Trained models, oldest first; the active one is marked."""
    from classifier import active_model_path
    from classifier.model import list_models as stored

    active = active_model_path()
    rows = []
    for info in stored():
        test = info.metrics.get("test", {})
        rows.append(
            {
                "model_id": info.model_id,
                "created_at": info.created_at,
                "active": active is not None and active.stem == info.model_id,
                "training_data_sha256": info.training_data_sha256,
                "threshold": info.threshold,
                "harmful_recall": test.get("harmful_recall"),
                "criticism_flagged": test.get("criticism_flagged"),
                "macro_f1": test.get("macro_f1"),
            }
        )
    if format == ReportFormat.json:
        print_json(rows)
        return
    print_table(
        rows,
        ["model_id", "created_at", "active", "threshold", "harmful_recall", "criticism_flagged"],
    )


@app.command("activate")
def activate_model(
    model_id: str = typer.Argument(..., help="The id shown by `kuchikomi model list`."),
    reclassify: bool = typer.Option(True, "--reclassify/--no-reclassify"),
) -> None:
    """Put an earlier model back in use (and re-classify the stored reviews with it)."""
    from classifier import ModelNotFoundError, load_model
    from classifier.model import activate, model_dir
    from kuchikomi.services.classification import classify_reviews, default_workers
    from models.db import session_scope

    if "/" in model_id or "\\" in model_id or model_id.startswith("."):
        fail(f"not a model id: {model_id!r}")
    try:
        classifier = load_model(model_dir() / f"{model_id}.skops")
        activate(model_id)
    except ModelNotFoundError as exc:
        fail(str(exc))
    sys.stdout.write(f"active model: {model_id}\n")
    if reclassify and _database_ready():
        with session_scope() as session:
            n = classify_reviews(
                session=session,
                only_unclassified=False,
                model=classifier,
                workers=default_workers(),
            )
        sys.stdout.write(f"re-classified {n} stored reviews\n")
