"""A trained classifier: classification results with reasons, and the model files on disk.

Each model is two files in the model directory: ``<model_id>.skops`` (the fitted Pipeline,
saved with skops) and ``<model_id>.json`` (id, training-data hash, metrics, the ``flagged``
threshold, creation time). A file named ``active`` holds the id of the model in use.

Result semantics (the JSONL contract): ``harmful_probability`` is the probability of any harmful
category, calibrated on the training data and then shifted from the training data's share of
harmful texts to the share assumed for real reviews (``settings.classifier.harmful_prior``, a
few per cent: the corpus is half attacks, a review queue is not); ``flagged`` is
``harmful_probability >= threshold`` (the threshold chosen on validation data); ``label`` is
``harmful`` exactly when flagged, otherwise the likelier of ``criticism`` and ``benign``;
``category`` is the likeliest harmful category when flagged and null otherwise.

Evidence before alarm: a text's probability may rise above the assumed share of harmful reviews
only when it holds evidence of an attack — an attack signal (insult, threat, crime or fraud
accusation, slur, phone number or street address, a name beside private details; see
``classifier.signals``) or a word the model has learnt to be characteristic of attacks, weighing
at least ``EVIDENCE_MIN`` towards harm. Without evidence it is capped at that share: text that
merely looks unlike the training data (other topics, registers, vocabulary) gives the model no
reason to call it more dangerous than an average review. A flagged result's reasons therefore
always name what attacks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from classifier.corpus import HARMFUL_CATEGORIES
from classifier.signals import aims_at_someone, attack_evidence, fired_reasons, names_person
from classifier.text import (
    MAX_CHARS,
    Analysed,
    analyse,
    chunks,
    clean,
    content_pos,
    gc_paused,
)

ACTIVE_FILE = "active"


def _import_skops_io() -> Any:
    """``skops.io``, imported without its list of every scikit-learn estimator.

    On import, skops builds its default trusted-type list from ``sklearn.utils.all_estimators()``,
    which imports every scikit-learn module (and much of SciPy): ~1.8 s and ~100 MB before a
    model is even read, most of the model-load budget. The estimators our pipeline uses are
    all this project needs; we name every type we accept anyway (``TRUSTED_TYPES``, checked
    before loading), so the narrower default only makes skops stricter, never looser.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import FunctionTransformer

    ours = [
        (cls.__name__, cls)
        for cls in (
            CalibratedClassifierCV,
            FeatureUnion,
            FunctionTransformer,
            LogisticRegression,
            Pipeline,
            TfidfTransformer,
        )
    ]
    original = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: list(ours)
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = original
    return skops.io


sio = _import_skops_io()

# Types a model file may contain beyond those skops trusts by default. Anything else in a file
# is refused: a .skops file from elsewhere must not be able to run arbitrary code on load.
TRUSTED_TYPES: tuple[str, ...] = (
    "classifier.features.NgramVectorizer",
    "classifier.signals.SignalFeatures",
    "classifier.text.analyse_texts",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "builtins.str",
    "numpy.str_",
)

# How many contributing terms a reason names.
TOP_TERMS = 3
# A word counts as evidence of an attack when its tf-idf weight times its coefficient (the
# harmful category's minus the highest of criticism's and benign's) reaches this. Chosen on the
# validation split: 0.15 keeps 93 % of harmful texts flaggable with 1.6 % of criticism flagged;
# 0.25 and 0.35 cost 3 and 7 points of recall and spared no more criticism.
EVIDENCE_MIN = 0.15


class ModelNotFoundError(RuntimeError):
    """No model to load; the message says how to make one."""


class ModelLoadError(RuntimeError):
    """A model file exists but cannot be used (unreadable, or contains untrusted types)."""


@dataclass
class ClassificationResult:
    text: str
    label: str
    category: str | None
    harmful_probability: float
    flagged: bool
    reasons: list[str]
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict(), which deep-copies every value.
        return {
            "text": self.text,
            "label": self.label,
            "category": self.category,
            "harmful_probability": self.harmful_probability,
            "flagged": self.flagged,
            "reasons": list(self.reasons),
            "model_version": self.model_version,
        }


@dataclass
class ModelInfo:
    model_id: str
    created_at: str
    training_data_sha256: str
    threshold: float
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    # The share of harmful texts in the (weighted) training data, and the share assumed for real
    # reviews: probabilities are shifted from the first to the second. None: no shift.
    training_prior: float | None = None
    harmful_prior: float | None = None
    # (slope, intercept) on the log-odds of the shifted probability, fitted on the validation
    # split re-weighted to ``harmful_prior`` (see classifier.training). None: not recalibrated.
    recalibration: tuple[float, float] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_file(cls, path: Path) -> ModelInfo:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            model_id=data["model_id"],
            created_at=data["created_at"],
            training_data_sha256=data["training_data_sha256"],
            threshold=float(data["threshold"]),
            metrics=data.get("metrics", {}),
            training=data.get("training", {}),
            training_prior=data.get("training_prior"),
            harmful_prior=data.get("harmful_prior"),
            recalibration=tuple(data["recalibration"]) if data.get("recalibration") else None,
        )


class Classifier:
    """A fitted Pipeline plus what was recorded beside it (version, threshold, metrics)."""

    def __init__(self, pipeline: Pipeline, info: ModelInfo):
        self.pipeline = pipeline
        self.info = info
        classes = [str(c) for c in pipeline.classes_]
        self.classes = classes
        self._harmful_columns = np.asarray([c in HARMFUL_CATEGORIES for c in classes])
        self._harmful_index = np.flatnonzero(self._harmful_columns)
        self._other_index = np.flatnonzero(~self._harmful_columns)
        self._explainer: _Explainer | None = None
        self.path: Path | None = None

    @property
    def no_evidence_cap(self) -> float:
        """The highest probability a text without evidence of an attack can have: the assumed
        share of harmful reviews (without evidence, a text is no more suspect than any review)."""
        prior = self.info.harmful_prior
        return float(prior) if prior is not None else 0.5 * self.threshold

    def _shift(self, proba: np.ndarray) -> np.ndarray:
        """Class probabilities under the assumed share of harmful reviews instead of the training
        data's (Bayes' rule: each class's probability times the ratio of its new and old prior,
        renormalised; the ranking within the harmful categories and within the others stays)."""
        old, new = self.info.training_prior, self.info.harmful_prior
        if old is None or new is None or old == new:
            return proba
        scale = np.where(self._harmful_columns, new / old, (1.0 - new) / (1.0 - old))
        shifted = proba * scale
        shifted /= shifted.sum(axis=1, keepdims=True)
        if self.info.recalibration is not None:
            shifted = self._recalibrate(shifted, *self.info.recalibration)
        return shifted

    def _recalibrate(self, proba: np.ndarray, slope: float, intercept: float) -> np.ndarray:
        """Replace the harmful total p by sigmoid(slope * logit(p) + intercept), scaling the
        harmful categories and the others each by a common factor (their rankings stay)."""
        harm = proba[:, self._harmful_columns].sum(axis=1)
        clipped = np.clip(harm, 1e-9, 1 - 1e-9)
        logit = np.log(clipped / (1 - clipped))
        new = 1.0 / (1.0 + np.exp(-(slope * logit + intercept)))
        scale = np.where(
            self._harmful_columns, (new / clipped)[:, None], ((1 - new) / (1 - clipped))[:, None]
        )
        recalibrated: np.ndarray = proba * scale
        return recalibrated

    def ungated_harmful_probabilities(self, texts: list[str]) -> np.ndarray:
        """The harmful probability before the evidence rule (what recalibration is fitted on)."""
        return self._score([clean(t) for t in texts], gate=False).harmful

    @property
    def version(self) -> str:
        return self.info.model_id

    @property
    def threshold(self) -> float:
        return self.info.threshold

    def harmful_probabilities(self, texts: list[str]) -> np.ndarray:
        return self._score([clean(t) for t in texts]).harmful

    def classify(self, texts: list[str]) -> list[ClassificationResult]:
        """Classify raw review texts; never raises on odd text (empty, huge, markup, emoji)."""
        # A batch's records, features and results all live until it is done: collector passes
        # over them would free nothing (see gc_paused).
        with gc_paused():
            return self._classify(texts)

    def _classify(self, texts: list[str]) -> list[ClassificationResult]:
        cleaned = [clean(t) for t in texts]
        scored = self._score(cleaned)
        has_text = scored.piece >= 0
        pieces = scored.piece[has_text]
        flagged_all = scored.harmful >= self.threshold
        flagged = flagged_all[has_text]
        proba = scored.proba[pieces]
        # The likeliest harmful category and the likelier of criticism/benign, per text.
        best_harmful = self._harmful_index[np.argmax(proba[:, self._harmful_index], axis=1)]
        best_other = self._other_index[np.argmax(proba[:, self._other_index], axis=1)]
        target = np.where(flagged, best_harmful, best_other)
        reference = np.where(flagged, best_other, best_harmful)
        terms = self._explainer_for().top_terms(scored, pieces, target, reference)
        empty = (np.diff(scored.features.indptr)[pieces] == 0).tolist() if len(pieces) else []
        # Python values from here on: indexing numpy arrays one element at a time is slow.
        records, classes, version = scored.records, self.classes, self.version
        harmful, half_threshold = scored.harmful.tolist(), self.threshold / 2
        best_other_list = best_other.tolist()
        cap = self.no_evidence_cap
        k = -1  # the index among texts that have text (pieces, best_other)
        per_text = zip(
            pieces.tolist(), flagged.tolist(), target.tolist(), empty, terms, strict=True
        )
        results = []
        for i, (text, present) in enumerate(zip(texts, has_text.tolist(), strict=True)):
            if not present:
                results.append(
                    ClassificationResult(
                        text, "benign", None, 0.0, False, ["本文がありません"], version
                    )
                )
                continue
            piece, is_flagged, best, empty_row, named = next(per_text)
            k += 1
            harm = harmful[i]
            attack_signals = scored.signals[piece]
            if is_flagged and not attack_signals and not named:
                # Evidence must be nameable: a word that weighs towards harm but is no content
                # word (a particle, an auxiliary) is not something staff could be shown.
                is_flagged, harm = False, min(harm, cap)
                best = best_other_list[k]
            label = "harmful" if is_flagged else classes[best]
            category = classes[best] if is_flagged else None
            if empty_row and not is_flagged:
                # Nothing the model knows (emoji, symbols, an unknown script): no evidence of
                # criticism either, so the text is reported as neutral, with the reason.
                label = "benign"
                reasons = ["判断材料となる語がありません（絵文字・記号のみ等）"]
            else:
                # Harm signals are shown from half the threshold up: a text there is worth a
                # look, and staff should see what pushed it up; below that they would mislead.
                reasons = fired_reasons(
                    records[piece],
                    show_harm=harm >= half_threshold,
                    show_opinion=label == "criticism",
                )
            if named:
                if is_flagged and not attack_signals:
                    # The words are the evidence: say so, rather than merely "contributed".
                    reasons.append("攻撃的な投稿に特徴的な語: " + "、".join(named))
                else:
                    reasons.append("強く寄与した語: " + "、".join(named))
            if len(text) > MAX_CHARS:
                reasons.append(f"長文のため先頭{MAX_CHARS:,}字のみ解析")
            results.append(
                ClassificationResult(
                    text, label, category, round(harm, 4), is_flagged, reasons, version
                )
            )
        return results

    def _score(self, cleaned: list[str], gate: bool = True) -> _Scored:
        """Score every text; a long text is scored chunk by chunk and takes its most harmful
        chunk, so that a threat cannot hide behind pages of harmless text."""
        owners: list[int] = []
        records: list[Analysed] = []
        one_piece_each = True
        with gc_paused():
            for i, text in enumerate(cleaned):
                pieces = chunks(text) if text else []
                one_piece_each = one_piece_each and len(pieces) == 1
                for piece in pieces:
                    owners.append(i)
                    records.append(analyse(piece))
        harmful = np.zeros(len(cleaned))
        decisive = np.full(len(cleaned), -1, dtype=np.int64)
        if not records:
            return _Scored(harmful, np.zeros((0, len(self.classes))), decisive, records, None, [])
        features = self.pipeline.named_steps["features"].transform(records).tocsr()
        proba = self._shift(self.pipeline.named_steps["model"].predict_proba(features))
        piece_harm = proba[:, self._harmful_columns].sum(axis=1)
        signals = [attack_evidence(record) for record in records]
        words = self._explainer_for().has_evidence(features, proba, self, records)
        evidence = np.asarray([bool(s) for s in signals]) | words | (not gate)
        piece_harm = np.where(evidence, piece_harm, np.minimum(piece_harm, self.no_evidence_cap))
        if one_piece_each:
            # The usual case: one piece per text.
            harmful[:] = piece_harm
            decisive[:] = np.arange(len(cleaned))
        else:
            harmful[:] = -1.0
            for j, owner in enumerate(owners):
                if piece_harm[j] > harmful[owner]:
                    harmful[owner] = piece_harm[j]
                    decisive[owner] = j
            harmful[harmful < 0] = 0.0
        return _Scored(harmful, proba, decisive, records, features, signals)

    def _explainer_for(self) -> _Explainer:
        if self._explainer is None:
            self._explainer = _Explainer(self.pipeline, self.classes)
        return self._explainer


@dataclass
class _Scored:
    harmful: np.ndarray  # per text
    proba: np.ndarray  # per piece (chunk), one column per class
    piece: np.ndarray  # per text: the index of its decisive piece, -1 when it has no text
    records: list[Analysed]  # per piece
    features: Any  # per piece: the sparse feature matrix
    signals: list[list[str]]  # per piece: the attack signals that fired (evidence)


class _Explainer:
    """The regression's weights, to name the words that pushed one text towards its label.

    Only word features are named, by their surface in the text (燃やして rather than the
    normalised 燃やす), and only content words: character n-grams and particles carry weight
    but mean nothing to a reader. Signals are named by their own reasons. Contributions are
    computed for a whole batch at once; only the few candidate words per text are looked up
    in Python.
    """

    # A word is named when its contribution to the log-odds of the label exceeds this.
    MIN_CONTRIBUTION = 0.05
    CANDIDATES = 40

    def __init__(self, pipeline: Pipeline, classes: list[str]):
        calibrated = pipeline.named_steps["model"]
        regression = calibrated.calibrated_classifiers_[0].estimator
        self.coef = np.asarray(regression.coef_)
        names = pipeline.named_steps["features"].get_feature_names_out().tolist()
        self.terms: list[tuple[str, ...] | None] = [
            tuple(name.split("__w:", 1)[1].split(" ")) if "__w:" in name else None for name in names
        ]
        self.is_word = np.asarray([t is not None for t in self.terms])
        self._other_max: np.ndarray | None = None
        # Evidence is a single word: a pair such as 受付 + の weighs towards insults only because
        # insults in the corpus often begin with who they are aimed at.
        self.is_single_word = np.asarray([t is not None and len(t) == 1 for t in self.terms])
        # Who a text is aimed at is not the attack on them: 受付 in 「受付の態度が悪い」 weighs
        # towards insults only because the corpus's insults are often aimed at the front desk.
        self.is_target_word = np.asarray(
            [t is not None and len(t) == 1 and names_person(t[0]) for t in self.terms]
        )

    def has_evidence(
        self, features: Any, proba: np.ndarray, model: Classifier, records: Sequence[Analysed]
    ) -> np.ndarray:
        """Per row: whether a word weighs at least ``EVIDENCE_MIN`` towards the likeliest harmful
        category against *every* other label — a word of attacks, not one that honest criticism
        (悪い, 態度) or ordinary text uses as much. Character n-grams and signals do not count
        here: the first name nothing, the second are judged as evidence by themselves.

        The text must also name whom it is about — a person, a group, the clinic or its work
        (see ``classifier.signals.aims_at_someone``): an attack is aimed at someone, and a learnt
        word alone (明日, 家 — the corpus's threats use them) in a remark aimed at no one is a
        topic, not an attack."""
        n = features.shape[0]
        if not n:
            return np.zeros(0, dtype=bool)
        if self._other_max is None:
            self._other_max = self.coef[model._other_index].max(axis=0)
        target = model._harmful_index[np.argmax(proba[:, model._harmful_index], axis=1)]
        row = np.repeat(np.arange(n), np.diff(features.indptr))
        columns = features.indices
        words = self.is_single_word[columns] & ~self.is_target_word[columns]
        row, columns, values = row[words], columns[words], features.data[words]
        contribution = values * (self.coef[target[row], columns] - self._other_max[columns])
        evidence = np.zeros(n, dtype=bool)
        evidence[row[contribution >= EVIDENCE_MIN]] = True
        for i in np.flatnonzero(evidence).tolist():
            evidence[i] = aims_at_someone(records[i])
        return evidence

    def top_terms(
        self, scored: _Scored, pieces: np.ndarray, target: np.ndarray, reference: np.ndarray
    ) -> list[list[str]]:
        chosen: list[list[str]] = [[] for _ in range(len(pieces))]
        if not len(pieces):
            return chosen
        matrix = scored.features
        if len(pieces) != matrix.shape[0] or np.any(pieces != np.arange(len(pieces))):
            matrix = matrix[pieces]
        row = np.repeat(np.arange(len(pieces)), np.diff(matrix.indptr))
        columns = matrix.indices
        words = self.is_word[columns]
        row, columns, values = row[words], columns[words], matrix.data[words]
        weights = self.coef[target[row], columns] - self.coef[reference[row], columns]
        contribution = values * weights
        keep = contribution > self.MIN_CONTRIBUTION
        row, columns, contribution = row[keep], columns[keep], contribution[keep]
        order = np.lexsort((-contribution, row))
        ordered = columns[order].tolist()
        # Each text's candidates, strongest first: ordered[starts[r]:starts[r + 1]].
        starts = np.searchsorted(row[order], np.arange(len(pieces) + 1)).tolist()
        terms, records, content = self.terms, scored.records, content_pos()
        for r, piece in enumerate(pieces.tolist()):
            record = records[piece]
            names = chosen[r]
            for column in ordered[starts[r] : min(starts[r + 1], starts[r] + self.CANDIDATES)]:
                term = terms[column]
                assert term is not None
                if len(term) == 1:
                    # The usual candidate, inlined (most are particles and auxiliaries, and are
                    # passed over): its first occurrence, if that is a content word.
                    try:
                        i = record.words.index(term[0])
                    except ValueError:
                        continue
                    if record.pos[i] not in content:
                        continue
                    shown = record.surface(i)
                else:
                    shown = _surface_of(record, term)
                if not shown or any(shown in c or c in shown for c in names):
                    continue
                names.append(shown)
                if len(names) == TOP_TERMS:
                    break
        return chosen


def _surface_of(record: Analysed, term: tuple[str, ...]) -> str | None:
    """How a (normalised) word or word pair is written in the text, without a leading particle
    (の病院 → 病院, but 痛かった stays whole); None when it holds no content word."""
    words, n = record.words, len(term)
    i = -1
    while True:
        try:
            i = words.index(term[0], i + 1)
        except ValueError:
            return None
        if n == 1 or words[i + 1 : i + n] == term[1:]:
            break
    return record.content_surface(i, i + n - 1)


# --- model files -------------------------------------------------------------------------------


def model_dir() -> Path:
    from kuchikomi_settings import get_settings

    return get_settings().model_dir


def save_model(pipeline: Pipeline, info: ModelInfo, directory: Path | None = None) -> Path:
    directory = directory or model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{info.model_id}.skops"
    # Written under temporary names and renamed, so a crash never leaves half a model behind.
    tmp_model = path.with_suffix(".skops.tmp")
    sio.dump(pipeline, tmp_model)
    tmp_info = path.with_suffix(".json.tmp")
    tmp_info.write_text(info.to_json(), encoding="utf-8")
    os.replace(tmp_info, path.with_suffix(".json"))
    os.replace(tmp_model, path)
    return path


def activate(model_id: str, directory: Path | None = None) -> None:
    directory = directory or model_dir()
    if not (directory / f"{model_id}.skops").is_file():
        raise ModelNotFoundError(f"no model {model_id!r} in {directory}")
    tmp = directory / f"{ACTIVE_FILE}.tmp"
    tmp.write_text(model_id + "\n", encoding="utf-8")
    os.replace(tmp, directory / ACTIVE_FILE)


def active_model_path(directory: Path | None = None) -> Path | None:
    """The configured model (settings.classifier.model_path) or the active one, if any."""
    from kuchikomi_settings import get_settings

    configured = get_settings().classifier.model_path
    if configured is not None and directory is None:
        return configured
    directory = directory or model_dir()
    pointer = directory / ACTIVE_FILE
    if not pointer.is_file():
        return None
    model_id = pointer.read_text(encoding="utf-8").strip()
    return directory / f"{model_id}.skops" if model_id else None


def list_models(directory: Path | None = None) -> list[ModelInfo]:
    directory = directory or model_dir()
    infos = []
    for path in sorted(directory.glob("*.json")):
        if path.with_suffix(".skops").is_file():
            infos.append(ModelInfo.from_file(path))
    return sorted(infos, key=lambda i: i.created_at)


def load_model(path: Path | None = None) -> Classifier:
    """Load a model file, or the configured/active model when ``path`` is None."""
    if path is None:
        path = active_model_path()
        if path is None:
            raise ModelNotFoundError(
                f"no classifier model in {model_dir()}; run `kuchikomi model train` first"
            )
    if not path.is_file():
        raise ModelNotFoundError(
            f"model file {path} does not exist; run `kuchikomi model train` to create one"
        )
    info_path = path.with_suffix(".json")
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
        unexpected = untrusted - set(TRUSTED_TYPES)
        if unexpected:
            raise ModelLoadError(
                f"refusing to load {path}: it contains types this project does not trust: "
                + ", ".join(sorted(unexpected))
            )
        pipeline = sio.load(path, trusted=sorted(untrusted))
        info = ModelInfo.from_file(info_path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load model {path}: {exc}") from exc
    classifier = Classifier(pipeline, info)
    classifier.path = path
    return classifier
