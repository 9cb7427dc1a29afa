"""The labelled corpus: reading TSV files, the fixed train/validation/test split, the data hash.

The split is a rule, not a list: a text's bucket is the SHA-256 of its normalised form
(NFKC, white space removed) modulo 100 — buckets 0–19 are the held-out test split, 20–34 the
validation split (used only to choose the ``flagged`` threshold), the rest training. The same
text therefore always lands in the same split however the files grow or are reordered, and
training never sees a held-out text. ``data/corpus/heldout.tsv`` is the materialised test split.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HARMFUL_CATEGORIES: tuple[str, ...] = (
    "defamation",
    "insult",
    "threat",
    "privacy",
    "discrimination",
)
LABELS: tuple[str, ...] = ("harmful", "criticism", "benign")
# Experience-based malpractice allegations (docs/domain.md grey zone): trained half as defamation,
# half as criticism so that they score in the middle; never a label the model outputs.
GREY = "grey"
CORPUS_LABELS: frozenset[str] = frozenset({*HARMFUL_CATEGORIES, "criticism", "benign", GREY})
EVAL_LABELS: frozenset[str] = CORPUS_LABELS | {"harmful"}

# Two texts this similar (character-3-gram Jaccard) are one text written twice, not two texts.
NEAR_DUPLICATE_JACCARD = 0.8

TEST_BUCKETS = range(0, 20)
VALIDATION_BUCKETS = range(20, 35)

CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "corpus"
SOURCE_DIR = CORPUS_DIR / "src"
HELDOUT_FILE = CORPUS_DIR / "heldout.tsv"
# Real neutral sentences nobody on the project wrote (JGLUE, CC BY-SA 4.0; see its README).
BACKGROUND_FILE = CORPUS_DIR / "jglue" / "jglue_neutral.tsv"


class CorpusError(ValueError):
    """A labelled file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    label: str
    text: str
    source: str = ""

    @property
    def coarse_label(self) -> str:
        """harmful / criticism / benign (grey stays grey)."""
        return "harmful" if self.label in HARMFUL_CATEGORIES else self.label


def split_key(text: str) -> str:
    normalised = unicodedata.normalize("NFKC", text.replace("\\n", ""))
    return "".join(normalised.split())


def bucket(text: str) -> int:
    digest = hashlib.sha256(split_key(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_of(text: str) -> str:
    b = bucket(text)
    if b in TEST_BUCKETS:
        return "test"
    if b in VALIDATION_BUCKETS:
        return "validation"
    return "train"


def read_tsv(path: Path, *, allowed: frozenset[str] = EVAL_LABELS) -> list[Example]:
    """Read ``label<TAB>text`` lines after a header line; blank lines are skipped."""
    examples: list[Example] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from exc
    for lineno, line_bytes in enumerate(raw.splitlines(), 1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason})") from exc
        if lineno == 1:
            if line.lstrip("\ufeff").split("\t")[:2] != ["label", "text"]:
                raise CorpusError(f"{path}:1: the first line must be the header 'label<TAB>text'")
            continue
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        label = label.strip()
        if not tab or not text.strip():
            raise CorpusError(f"{path}:{lineno}: expected 'label<TAB>text'")
        if label not in allowed:
            expected = ", ".join(sorted(allowed))
            raise CorpusError(f"{path}:{lineno}: unknown label {label!r} (expected: {expected})")
        examples.append(Example(label, text, f"{path.name}:{lineno}"))
    return examples


def load_corpus(source_dir: Path = SOURCE_DIR) -> list[Example]:
    """Every example in ``source_dir/*.tsv``, in file order; the same text twice is kept once."""
    paths = sorted(source_dir.glob("*.tsv"))
    if not paths:
        raise CorpusError(f"no corpus files (*.tsv) in {source_dir}")
    seen: set[str] = set()
    examples: list[Example] = []
    for path in paths:
        for example in read_tsv(path, allowed=CORPUS_LABELS):
            key = split_key(example.text)
            if key in seen:
                continue
            seen.add(key)
            examples.append(example)
    return examples


def split(examples: Iterable[Example]) -> dict[str, list[Example]]:
    parts: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for example in examples:
        parts[split_of(example.text)].append(example)
    return parts


def load_background(path: Path = BACKGROUND_FILE) -> dict[str, list[str]]:
    """Real neutral text (``source<TAB>text`` after a header), split by the corpus's rule:
    ``train`` (benign training text) and ``heldback`` (the test buckets, never trained on, where
    the flag rate on ordinary language is measured). The validation buckets are trained on: the
    threshold is chosen on clinic texts, and the more ordinary language the model sees the better.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from exc
    parts: dict[str, list[str]] = {"train": [], "heldback": []}
    seen: set[str] = set()
    for line in lines[1:]:
        _, _, text = line.partition("\t")
        key = split_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        parts["heldback" if bucket(text) in TEST_BUCKETS else "train"].append(text)
    return parts


def data_hash(examples: Iterable[Example]) -> str:
    """SHA-256 of the (label, text) pairs a model was trained on, independent of order."""
    digest = hashlib.sha256()
    for label, text in sorted((e.label, e.text) for e in examples):
        digest.update(label.encode("utf-8") + b"\t" + text.encode("utf-8") + b"\n")
    return digest.hexdigest()


def write_tsv(path: Path, examples: Iterable[Example]) -> int:
    rows = sorted(examples, key=lambda e: (e.label, split_key(e.text)))
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("label\ttext\n")
        for example in rows:
            fh.write(f"{example.label}\t{example.text}\n")
    return len(rows)


def shingles(text: str) -> frozenset[str]:
    """Character 3-grams of a text's split key (NFKC, no white space)."""
    key = split_key(text)
    return frozenset(key[i : i + 3] for i in range(max(1, len(key) - 2)))


def near_duplicates(
    examples: Sequence[Example], threshold: float = NEAR_DUPLICATE_JACCARD
) -> list[tuple[float, Example, Example]]:
    """Pairs of texts whose character-3-gram Jaccard similarity exceeds ``threshold``.

    Candidate pairs come from an inverted index on 3-grams, so a few thousand texts take a
    second or two rather than the minutes of comparing every pair.
    """
    sets = [shingles(e.text) for e in examples]
    index: dict[str, list[int]] = defaultdict(list)
    for i, grams in enumerate(sets):
        for gram in grams:
            index[gram].append(i)
    pairs = []
    for i, grams in enumerate(sets):
        overlap: Counter[int] = Counter()
        for gram in grams:
            overlap.update(j for j in index[gram] if j > i)
        for j, shared in overlap.items():
            jaccard = shared / (len(grams) + len(sets[j]) - shared)
            if jaccard > threshold:
                pairs.append((round(jaccard, 3), examples[i], examples[j]))
    return pairs


def label_counts(examples: Iterable[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.label for e in examples).items()))


def main() -> None:
    """``python -m classifier.corpus``: rewrite data/corpus/heldout.tsv from the split rule."""
    parts = split(load_corpus())
    count = write_tsv(HELDOUT_FILE, parts["test"])
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in parts.items())
    print(f"wrote {count} held-out texts to {HELDOUT_FILE} ({sizes})")


if __name__ == "__main__":
    main()
