"""Metrics of a model on labelled texts, and the choice of the ``flagged`` threshold.

Gold labels may be coarse (harmful / criticism / benign) or a harmful category; metrics are
computed on the coarse labels, with the category accuracy reported for harmful texts that carry
a category. Grey-zone texts have no right answer: they are reported apart (how high they score,
how many are flagged) and kept out of every other figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from classifier.corpus import GREY, HARMFUL_CATEGORIES, LABELS, Example
from classifier.model import ClassificationResult

# The targets the threshold is chosen for: catch harmful posts, spare criticism.
MIN_HARMFUL_RECALL = 0.95
MAX_CRITICISM_FLAGGED = 0.05
# Probability bins of the reliability table.
CALIBRATION_BINS = (0.0, 0.01, 0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def evaluate(
    examples: Sequence[Example], results: Sequence[ClassificationResult]
) -> dict[str, Any]:
    gold_all = [e.coarse_label for e in examples]
    grey = [r for g, r in zip(gold_all, results, strict=True) if g == GREY]
    pairs = [(g, e, r) for g, e, r in zip(gold_all, examples, results, strict=True) if g != GREY]
    gold = [g for g, _, _ in pairs]
    predicted = [r.label for _, _, r in pairs]
    index = {label: i for i, label in enumerate(LABELS)}
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g], index[p]] += 1
    per_label: dict[str, dict[str, float]] = {}
    for label, i in index.items():
        tp = matrix[i, i]
        precision = _ratio(tp, matrix[:, i].sum())
        recall = _ratio(tp, matrix[i, :].sum())
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": int(matrix[i, :].sum()),
        }
    with_category = [
        (e.label, r.category)
        for g, e, r in pairs
        if e.label in HARMFUL_CATEGORIES and r.label == "harmful"
    ]
    criticism_total = int(matrix[index["criticism"], :].sum())
    return {
        "n": len(pairs),
        "accuracy": round(_ratio(np.trace(matrix), matrix.sum()), 4),
        "per_label": per_label,
        "macro_f1": round(float(np.mean([m["f1"] for m in per_label.values()])), 4),
        "confusion": {"labels": list(LABELS), "matrix": matrix.tolist()},
        "harmful_recall": per_label["harmful"]["recall"],
        "criticism_flagged": round(
            _ratio(matrix[index["criticism"], index["harmful"]], criticism_total), 4
        ),
        "category_accuracy": round(
            _ratio(sum(g == p for g, p in with_category), len(with_category)), 4
        ),
        "grey": {
            "n": len(grey),
            "mean_probability": round(float(np.mean([r.harmful_probability for r in grey])), 4)
            if grey
            else None,
            "flagged": round(_ratio(sum(r.flagged for r in grey), len(grey)), 4),
        },
    }


def calibration(
    examples: Sequence[Example], results: Sequence[ClassificationResult], prior: float
) -> dict[str, Any]:
    """Brier score and reliability table of ``harmful_probability`` on labelled texts, as if
    harmful texts made up ``prior`` of them (the share the model assumes for real reviews).

    A labelled set is rarely mixed like real reviews (the corpus is half attacks), and a
    probability can only be judged against the mix it claims to describe: each harmful text
    weighs ``prior / n_harmful``, each other text ``(1 - prior) / n_other``. Grey-zone texts have
    no truth to compare with and are left out.
    """
    pairs = [
        (e.coarse_label == "harmful", r.harmful_probability)
        for e, r in zip(examples, results, strict=True)
        if e.coarse_label != GREY
    ]
    if not pairs:
        return {"prior": prior, "brier": None, "table": []}
    truth = np.asarray([t for t, _ in pairs], dtype=float)
    probability = np.asarray([p for _, p in pairs], dtype=float)
    n_harmful = truth.sum()
    n_other = len(truth) - n_harmful
    weight = np.where(
        truth == 1,
        prior / n_harmful if n_harmful else 0.0,
        (1 - prior) / n_other if n_other else 0.0,
    )
    weight /= weight.sum()
    brier = float(np.sum(weight * (probability - truth) ** 2))
    edges = np.asarray(CALIBRATION_BINS)
    which = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, len(edges) - 2)
    table = []
    for b in range(len(edges) - 1):
        inside = which == b
        share = float(weight[inside].sum())
        if not inside.any():
            continue
        table.append(
            {
                "bin": f"{edges[b]:.2f}–{edges[b + 1]:.2f}",
                "n": int(inside.sum()),
                "weight": round(share, 4),
                "mean_probability": round(
                    float(np.average(probability[inside], weights=weight[inside])), 4
                )
                if share
                else None,
                "harmful_rate": round(float(np.average(truth[inside], weights=weight[inside])), 4)
                if share
                else None,
            }
        )
    return {"prior": prior, "brier": round(brier, 5), "table": table}


def background_rate(results: Sequence[ClassificationResult]) -> dict[str, Any]:
    """How often ordinary text that attacks no one is flagged, and how high it scores."""
    probability = np.asarray([r.harmful_probability for r in results], dtype=float)
    return {
        "n": len(results),
        "flagged": round(_ratio(sum(r.flagged for r in results), len(results)), 4),
        "mean_probability": round(float(probability.mean()), 5) if len(results) else None,
        "p99_probability": round(float(np.quantile(probability, 0.99)), 4)
        if len(results)
        else None,
    }


def choose_threshold(
    harmful: np.ndarray, criticism: np.ndarray, floor: float = 0.0
) -> tuple[float, dict[str, Any]]:
    """The ``flagged`` threshold from validation probabilities of harmful and criticism texts.

    Among thresholds meeting both targets, the one with the widest margin from each (the
    largest recall minus criticism-flagged share); when none meets both, criticism is protected
    first (a false flag costs as much as a miss) and recall is maximised under it. Only
    thresholds above ``floor`` are considered: the probability a text without evidence of an
    attack is capped at, which must never be enough to flag it.
    """
    candidates = np.unique(np.concatenate([harmful, criticism, [0.5]]))
    candidates = candidates[candidates > floor]
    best: tuple[float, float] | None = None
    fallback: tuple[float, float] | None = None
    for t in candidates:
        recall = float(np.mean(harmful >= t)) if len(harmful) else 0.0
        flagged = float(np.mean(criticism >= t)) if len(criticism) else 0.0
        score = recall - flagged
        if recall >= MIN_HARMFUL_RECALL and flagged <= MAX_CRITICISM_FLAGGED:
            if best is None or score > best[1]:
                best = (float(t), score)
        if flagged <= MAX_CRITICISM_FLAGGED and (fallback is None or recall > fallback[1]):
            fallback = (float(t), recall)
    met = best is not None
    chosen = best[0] if best is not None else (fallback[0] if fallback is not None else 0.5)
    # Halfway down to the next lower validation score: the same validation texts are flagged,
    # but a new text scoring a hair below the lowest caught one is caught too.
    lower = candidates[candidates < chosen]
    lower = lower[lower > floor]
    if len(lower):
        chosen = float((chosen + lower[-1]) / 2)
    recall = float(np.mean(harmful >= chosen)) if len(harmful) else 0.0
    flagged = float(np.mean(criticism >= chosen)) if len(criticism) else 0.0
    return round(chosen, 6), {
        "targets_met": met,
        "harmful_recall": round(recall, 4),
        "criticism_flagged": round(flagged, 4),
        "n_harmful": int(len(harmful)),
        "n_criticism": int(len(criticism)),
    }
