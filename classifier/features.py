"""The model as one scikit-learn Pipeline: analyse once → word, character and signal features → a
calibrated logistic regression.

``NgramVectorizer`` exists instead of ``CountVectorizer`` for speed and persistence: looking terms
up with ``dict.get`` avoids the exception per unknown n-gram that ``CountVectorizer`` raises
internally (most character 4-grams of a new review are unknown), and its vocabulary is stored as a
plain string array, which skops saves and loads quickly, with the lookup table rebuilt on first use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from classifier.signals import SignalFeatures
from classifier.text import Analysed, analyse_texts


def word_ngrams(record: Analysed) -> list[str]:
    """Sudachi normalised forms, unigrams and bigrams (a bigram is two forms joined by a space)."""
    words = record.words
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def char_ngrams(record: Analysed) -> list[str]:
    """Character 2–4-grams of the cleaned text (they catch spellings Sudachi splits oddly: 氏ね)."""
    text = record.text.replace(" ", "")
    n = len(text)
    return [text[i : i + k] for k in (2, 3, 4) for i in range(n - k + 1)]


_ANALYZERS = {"word": word_ngrams, "char": char_ngrams}


class NgramVectorizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Counts of word or character n-grams seen in at least ``min_df`` training texts."""

    def __init__(self, kind: str = "word", min_df: int = 2, max_features: int | None = None):
        self.kind = kind
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, X: Sequence[Analysed], y: Any = None) -> NgramVectorizer:
        analyzer = _ANALYZERS[self.kind]
        df: Counter[str] = Counter()
        for record in X:
            df.update(set(analyzer(record)))
        kept = [(term, n) for term, n in df.items() if n >= self.min_df]
        # Most frequent first, then by term, so that the vocabulary does not depend on dict order.
        kept.sort(key=lambda item: (-item[1], item[0]))
        if self.max_features is not None:
            kept = kept[: self.max_features]
        self.terms_ = np.asarray(sorted(term for term, _ in kept), dtype=str)
        return self

    def _lookup(self) -> dict[str, int]:
        index: dict[str, int] | None = self.__dict__.get("_index")
        if index is None:
            index = {term: i for i, term in enumerate(self.terms_.tolist())}
            self.__dict__["_index"] = index
        return index

    def __getstate__(self) -> dict[str, Any]:
        # The lookup table is derived from terms_; persisting it would only slow skops down.
        state = dict(super().__getstate__())
        state.pop("_index", None)
        return state

    def transform(self, X: Sequence[Analysed]) -> sparse.csr_matrix:
        analyzer = _ANALYZERS[self.kind]
        get = self._lookup().get
        indices: list[int] = []
        indptr = [0]
        for record in X:
            indices.extend([i for i in map(get, analyzer(record)) if i is not None])
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float64)
        matrix = sparse.csr_matrix(
            (data, np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
            shape=(len(X), len(self.terms_)),
        )
        matrix.sum_duplicates()
        return matrix

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        prefix = "w:" if self.kind == "word" else "c:"
        return np.asarray([prefix + t for t in self.terms_.tolist()], dtype=object)


def build_pipeline(*, C: float = 8.0, calibration_folds: int = 4, seed: int = 0) -> Pipeline:
    """An unfitted model. ``C`` and the feature weights were chosen on the validation split."""
    words = Pipeline(
        [
            ("count", NgramVectorizer("word", min_df=2)),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ]
    )
    chars = Pipeline(
        [
            ("count", NgramVectorizer("char", min_df=3)),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ]
    )
    features = FeatureUnion(
        [("words", words), ("chars", chars), ("signals", SignalFeatures())],
        # Signals are single 0/1 columns against thousands of n-grams; weighting them up lets
        # the regression use them without a much weaker regularisation of everything else.
        transformer_weights={"words": 1.0, "chars": 1.0, "signals": 1.0},
    )
    regression = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
    # ensemble=False: one regression fitted on all training data (whose coefficients explain the
    # result) with a sigmoid calibration learnt from cross-validated predictions.
    calibrated = CalibratedClassifierCV(
        regression, method="sigmoid", cv=calibration_folds, ensemble=False
    )
    return Pipeline(
        [
            ("analyse", FunctionTransformer(analyse_texts, validate=False)),
            ("features", features),
            ("model", calibrated),
        ]
    )
