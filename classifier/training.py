"""Training a model from the corpus (and staff decisions), choosing its threshold, recording it.

Fitting uses the training split (plus any extra labelled texts, e.g. staff decisions); the
``flagged`` threshold is then chosen on the validation split and the model is measured on the
held-out test split, which nothing here ever trains on. The model is not refitted on the
validation texts afterwards: the threshold belongs to the probabilities of the fitted model.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from classifier.corpus import GREY, SOURCE_DIR, Example, data_hash, load_corpus, split, split_key
from classifier.evaluation import choose_threshold, evaluate
from classifier.features import build_pipeline
from classifier.model import Classifier, ModelInfo, activate, save_model

# A grey-zone text is trained as both of its readings, each at half weight, so that the model
# learns to put such texts in the middle instead of on either side (DESIGN §5).
GREY_READINGS: tuple[tuple[str, float], ...] = (("defamation", 0.5), ("criticism", 0.5))


@dataclass
class TrainedModel:
    classifier: Classifier
    path: Path | None


def training_rows(examples: Sequence[Example]) -> tuple[list[str], list[str], np.ndarray]:
    texts: list[str] = []
    labels: list[str] = []
    weights: list[float] = []
    for example in examples:
        if example.label == GREY:
            for label, weight in GREY_READINGS:
                texts.append(example.text)
                labels.append(label)
                weights.append(weight)
        else:
            texts.append(example.text)
            labels.append(example.label)
            weights.append(1.0)
    return texts, labels, np.asarray(weights)


def train(
    *,
    corpus_dir: Path = SOURCE_DIR,
    extra: Sequence[Example] = (),
    directory: Path | None = None,
    save: bool = True,
    make_active: bool = True,
) -> TrainedModel:
    """Fit, choose the threshold, evaluate on the held-out split, and (by default) save+activate."""
    started = time.perf_counter()
    parts = split(load_corpus(corpus_dir))
    held_out = {split_key(e.text) for e in parts["test"]}
    # A staff decision about a text that is also a held-out text would leak it into training.
    extra = [e for e in extra if split_key(e.text) not in held_out]
    train_examples = parts["train"] + list(extra)
    texts, labels, weights = training_rows(train_examples)

    pipeline = build_pipeline()
    # One BLAS thread: L-BFGS works on vectors too small for threads to pay off, and OpenBLAS
    # threads spinning against other busy processes made training ten times slower.
    with threadpool_limits(limits=1, user_api="blas"):
        pipeline.fit(texts, labels, model__sample_weight=weights)

    created = datetime.now(UTC)
    fingerprint = data_hash(train_examples + parts["validation"])
    provisional = ModelInfo(
        model_id=f"{created:%Y%m%dT%H%M%SZ}-{fingerprint[:8]}",
        created_at=created.isoformat(timespec="seconds"),
        training_data_sha256=fingerprint,
        threshold=0.5,
    )
    classifier = Classifier(pipeline, provisional)

    validation = parts["validation"]
    val_probability = classifier.harmful_probabilities([e.text for e in validation])
    coarse = np.asarray([e.coarse_label for e in validation])
    threshold, selection = choose_threshold(
        val_probability[coarse == "harmful"], val_probability[coarse == "criticism"]
    )
    provisional.threshold = threshold

    test = parts["test"]
    metrics = {
        "threshold_selection": selection,
        "validation": evaluate(validation, classifier.classify([e.text for e in validation])),
        "test": evaluate(test, classifier.classify([e.text for e in test])),
    }
    provisional.metrics = metrics
    provisional.training = {
        "n_train": len(train_examples),
        "n_validation": len(validation),
        "n_test": len(test),
        "n_staff_decisions": len(extra),
        "label_counts": dict(sorted(Counter(e.label for e in train_examples).items())),
        "corpus_dir": str(corpus_dir),
        "sklearn_version": sklearn.__version__,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = None
    if save:
        path = save_model(pipeline, provisional, directory)
        if make_active:
            activate(provisional.model_id, directory)
    return TrainedModel(classifier, path)
