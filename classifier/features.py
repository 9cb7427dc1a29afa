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
from itertools import chain, repeat
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
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


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

    def _word_index(self) -> _WordIndex | None:
        if "_words" not in self.__dict__:
            self.__dict__["_words"] = _WordIndex.build(self.terms_.tolist())
        words: _WordIndex | None = self.__dict__["_words"]
        return words

    def _char_index(self) -> _CharIndex | None:
        if "_chars" not in self.__dict__:
            self.__dict__["_chars"] = _CharIndex.build(self.terms_.tolist())
        chars: _CharIndex | None = self.__dict__["_chars"]
        return chars

    def __getstate__(self) -> dict[str, Any]:
        # The lookup tables are derived from terms_; persisting them would only slow skops down.
        state = dict(super().__getstate__())
        state.pop("_index", None)
        state.pop("_chars", None)
        state.pop("_words", None)
        return state

    def transform(self, X: Sequence[Analysed]) -> sparse.csr_matrix:
        if self.kind == "char":
            chars = self._char_index()
            if chars is not None:
                return chars.transform([record.text.replace(" ", "") for record in X])
        else:
            words = self._word_index()
            if words is not None:
                return words.transform(X)
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


def _count_matrix(row: np.ndarray, col: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    """The CSR matrix counting each (row, column) pair, with sorted indices.

    One sort of combined (row, column) keys, then run lengths: a third cheaper than letting scipy
    build a matrix with duplicate entries and sum them (``sum_duplicates`` sorts every row).
    """
    n_rows, n_cols = shape
    # 32-bit keys when they fit (a batch of a few thousand texts): numpy sorts them twice as
    # fast as 64-bit ones.
    dtype = np.dtype(np.int32 if n_rows * n_cols < 2**31 else np.int64)
    width = np.asarray(n_cols, dtype=dtype)
    key = row.astype(dtype) * width + col.astype(dtype)
    key.sort()
    first = np.empty(len(key), dtype=bool)
    first[:1] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(key))).astype(np.float64)
    unique = key[starts]
    rows, columns = np.divmod(unique, width)
    indptr = np.searchsorted(rows, np.arange(n_rows + 1))
    return sparse.csr_matrix((counts, columns, indptr), shape=shape)


class _KeyTable:
    """A read-only hash table from 64-bit n-gram keys to columns, looked up a whole array at a
    time: open addressing with linear probing, at most a quarter full.

    Replaces a binary search (``searchsorted``) over the sorted vocabulary keys, which cost one
    cache miss per level for every n-gram of every review; here nearly every key is settled by
    its first slot, and the table (a few MB) stays in cache.
    """

    EMPTY = np.uint64(2**64 - 1)  # never a key: keys keep their top bits clear
    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        bits = max(4, (4 * len(keys)).bit_length())
        self._shift = np.uint64(64 - bits)
        self._mask = np.int64((1 << bits) - 1)
        self.keys = np.full(1 << bits, self.EMPTY, dtype=np.uint64)
        self.values = np.zeros(1 << bits, dtype=np.int32)
        keys = np.asarray(keys, dtype=np.uint64)
        values = np.asarray(values, dtype=np.int32)
        home = self._home(keys)
        pending = np.arange(len(keys))
        self.probes = 0
        # Insert round by round: in round p each key not yet placed tries slot home + p, and of
        # the keys wanting one free slot the first takes it. A key placed in round p thus has
        # slots home … home + p - 1 occupied, which is what a lookup relies on to stop early.
        while len(pending):
            slot = (home[pending] + self.probes) & self._mask
            free = self.keys[slot] == self.EMPTY
            wanting, wanted = pending[free], slot[free]
            _, first = np.unique(wanted, return_index=True)
            placed = wanting[first]
            self.keys[wanted[first]] = keys[placed]
            self.values[wanted[first]] = values[placed]
            pending = pending[~np.isin(pending, placed)]
            self.probes += 1

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * self._MULTIPLIER) >> self._shift).astype(np.int64)

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into ``keys`` that are in the table, their values)."""
        slot = self._home(keys)
        if not self.probes:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        # The first probe settles almost every key: it runs on the arrays as they are.
        stored = self.keys[slot]
        hit = stored == keys
        found_at = [np.flatnonzero(hit)]
        found = [self.values[slot[hit]]]
        pending = np.flatnonzero(~hit & (stored != self.EMPTY))
        home = slot[pending]
        for probe in range(1, self.probes):
            if not len(pending):
                break
            slot = (home + probe) & self._mask
            stored = self.keys[slot]
            hit = stored == keys[pending]
            found_at.append(pending[hit])
            found.append(self.values[slot[hit]])
            unsettled = ~hit & (stored != self.EMPTY)
            pending, home = pending[unsettled], home[unsettled]
        return np.concatenate(found_at), np.concatenate(found)


class _WordIndex:
    """Word unigram and bigram counts for a whole batch: one dict lookup per token, the rest in
    numpy (a bigram is looked up as a pair of unigram columns, so no "a b" strings are built).

    Valid because a bigram kept by ``min_df`` has both of its words kept too; ``build`` checks
    this and returns None (Python analyser) when a vocabulary does not have that property.
    """

    def __init__(self, unigrams: dict[str, int], keys: np.ndarray, columns: np.ndarray, n: int):
        self.unigrams = unigrams
        # first_column * n + second_column -> the bigram's column
        self.bigrams = _KeyTable(keys, columns)
        self.n_terms = n

    @classmethod
    def build(cls, terms: list[str]) -> _WordIndex | None:
        n = len(terms)
        unigrams = {t: i for i, t in enumerate(terms) if " " not in t}
        pairs = []
        for column, term in enumerate(terms):
            if " " in term:
                first, _, second = term.partition(" ")
                if first not in unigrams or second not in unigrams or " " in second:
                    return None
                pairs.append((unigrams[first] * n + unigrams[second], column))
        keys = np.asarray([k for k, _ in pairs], dtype=np.uint64)
        columns = np.asarray([c for _, c in pairs], dtype=np.int32)
        return cls(unigrams, keys, columns, n)

    def transform(self, X: Sequence[Analysed]) -> sparse.csr_matrix:
        lengths = np.fromiter((len(r.words) for r in X), dtype=np.int64, count=len(X))
        words = chain.from_iterable([r.words for r in X])
        ids = np.fromiter(
            map(self.unigrams.get, words, repeat(-1)), dtype=np.int64, count=int(lengths.sum())
        )
        row_of = np.repeat(np.arange(len(X), dtype=np.int32), lengths)
        known = ids >= 0
        rows = [row_of[known]]
        cols = [ids[known]]
        if len(ids) > 1:
            first, second = ids[:-1], ids[1:]
            pair = np.flatnonzero((first >= 0) & (second >= 0) & (row_of[:-1] == row_of[1:]))
            key = (first[pair] * self.n_terms + second[pair]).astype(np.uint64)
            at, columns = self.bigrams.get(key)
            rows.append(row_of[pair[at]])
            cols.append(columns)
        return _count_matrix(np.concatenate(rows), np.concatenate(cols), (len(X), self.n_terms))


class _CharIndex:
    """Character n-gram counts for a whole batch at once, in numpy instead of a Python loop.

    Every character of the vocabulary gets a small id (15 bits; 0 = not in the vocabulary), and
    an n-gram becomes one 64-bit key: n in the top bits, then the ids of its characters. The
    batch's texts are joined, turned into an id array, and all their 2-, 3- and 4-gram keys are
    looked up in a :class:`_KeyTable` of the vocabulary, one array lookup per n. Same counts as the
    Python analyser (a test checks this), at a fraction of its cost — character n-grams were the
    most expensive step after tokenisation.
    """

    BITS = 15

    def __init__(self, table: np.ndarray, keys: np.ndarray, columns: np.ndarray, n_terms: int):
        self.table = table  # code point -> character id
        self.ngrams = _KeyTable(keys, columns)  # n-gram key -> column
        self.n_terms = n_terms

    @classmethod
    def build(cls, terms: list[str]) -> _CharIndex | None:
        alphabet = sorted({ch for term in terms for ch in term})
        known = set(terms)
        if (
            len(alphabet) >= 2**cls.BITS
            or any(not 2 <= len(t) <= 4 for t in terms)
            or any(len(t) > 2 and t[:-1] not in known for t in terms)
        ):
            return None  # the Python analyser handles this vocabulary
        # uint16: 2 MB for every code point (uint64 would be 9 MB, and slower to gather from).
        table = np.zeros(0x110000, dtype=np.uint16)
        table[[ord(ch) for ch in alphabet]] = np.arange(1, len(alphabet) + 1, dtype=np.uint16)
        keys = np.asarray([cls._key([int(table[ord(ch)]) for ch in t]) for t in terms], np.uint64)
        return cls(table, keys, np.arange(len(terms), dtype=np.int32), len(terms))

    @classmethod
    def _key(cls, ids: list[int]) -> int:
        key = len(ids)
        for i in ids:
            key = (key << cls.BITS) | i
        return key

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        # surrogatepass: a lone surrogate must not break the batch (it simply matches nothing).
        codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), np.uint32)
        ids = self.table[codes].astype(np.uint64)
        ends = np.cumsum(lengths)
        row_of = np.repeat(np.arange(len(texts), dtype=np.int32), lengths)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        bits = np.uint64(self.BITS)
        # Positions whose n-gram may be in the vocabulary. A kept 3- or 4-gram has its prefix
        # kept too (min_df), so only positions whose shorter n-gram was found are looked up.
        alive = np.flatnonzero(ids[:-1] != 0) if len(ids) > 1 else np.zeros(0, np.int64)
        for n in (2, 3, 4):
            # An n-gram must not run from one text into the next (or past the end).
            alive = alive[alive + n <= ends[row_of[alive]]]
            if not len(alive):
                break
            key = np.full(len(alive), n, dtype=np.uint64)
            for k in range(n):
                key = (key << bits) | ids[alive + k]
            at, columns = self.ngrams.get(key)
            alive = alive[at]
            rows.append(row_of[alive])
            cols.append(columns)
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
        return _count_matrix(row, col, (len(texts), self.n_terms))


def build_pipeline(*, C: float = 20.0, calibration_folds: int = 2, seed: int = 0) -> Pipeline:
    """An unfitted model. ``C`` and the feature weights were chosen on the validation split;
    two calibration folds rather than four: with ~27,000 training rows (the background text
    included) each fold still calibrates on thousands, at half the fitting time."""
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
        # Equal weights. The signals are single 0/1 columns against thousands of n-grams: a
        # weight above 1 on them would let the regression lean on them without weakening the
        # regularisation of everything else, the knob to turn if they prove too weak.
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
