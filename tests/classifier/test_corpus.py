"""The training corpus: big and varied enough, no text written twice, a fixed held-out split."""

from __future__ import annotations

import re
from collections import Counter

from classifier.corpus import (
    HARMFUL_CATEGORIES,
    HELDOUT_FILE,
    NEAR_DUPLICATE_JACCARD,
    SOURCE_DIR,
    Example,
    label_counts,
    load_corpus,
    near_duplicates,
    read_tsv,
    split,
    split_key,
)


def _raw_rows() -> list[Example]:
    """Every row of every source file, exact repeats included (load_corpus drops those)."""
    rows: list[Example] = []
    for path in sorted(SOURCE_DIR.glob("*.tsv")):
        rows.extend(read_tsv(path))
    return rows


def test_no_two_texts_are_near_duplicates_and_counts_per_label_are_printed() -> None:
    rows = _raw_rows()
    counts = label_counts(rows)
    print("corpus texts per label:", ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"total {len(rows)}")

    pairs = near_duplicates(rows)

    assert not pairs, f"{len(pairs)} near-duplicate pairs (char-3-gram Jaccard > " + (
        f"{NEAR_DUPLICATE_JACCARD}):\n"
        + "\n".join(f"{j:.2f} {a.source} | {b.source}: {a.text[:40]}" for j, a, b in pairs[:20])
    )


def test_the_near_duplicate_check_catches_a_rewritten_text() -> None:
    a = Example(
        "insult",
        "院長はクズ。二度と行かないし、家族や友達にも絶対に行くなと言っておく。受付も感じが悪い。",
    )
    b = Example(
        "insult",
        "院長はクズ。二度と行かないし、家族や友達にも絶対に行くなと言っておく！受付も感じが悪い",
    )
    c = Example("criticism", "待ち時間が長くて、受付の説明もわかりにくかったです。")

    assert [(x.text, y.text) for _, x, y in near_duplicates([a, b, c])] == [(a.text, b.text)]


def test_corpus_has_over_3000_texts_across_every_label() -> None:
    examples = load_corpus()
    counts = Counter(e.label for e in examples)

    assert len(examples) >= 3000
    for category in HARMFUL_CATEGORIES:
        assert counts[category] >= 200, counts
    assert counts["criticism"] >= 600, counts
    assert counts["benign"] >= 500, counts
    assert counts["grey"] >= 200, counts


def _share(examples: list[Example], pattern: str) -> int:
    regex = re.compile(pattern)
    return sum(bool(regex.search(e.text)) for e in examples)


def test_corpus_varies_specialty_length_register_and_holds_the_hard_cases() -> None:
    examples = load_corpus()
    by_label: dict[str, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.label, []).append(e)

    specialties = [
        "内科", "歯科|歯医者", "小児科", "皮膚科", "眼科", "美容外科", "心療内科", "整形外科",
        "産婦人科|婦人科", "耳鼻科|耳鼻咽喉科",
    ]  # fmt: skip
    for specialty in specialties:
        assert _share(examples, specialty) >= 20, specialty
    lengths = [len(e.text) for e in examples]
    assert sum(n <= 15 for n in lengths) >= 50  # one line
    assert sum(n >= 300 for n in lengths) >= 100  # several paragraphs
    assert _share(examples, r"\\n") >= 200
    assert _share(examples, "です|ます") >= 500
    assert _share(examples, "[\U0001f300-\U0001faff\u2600-\u27bf]") >= 50  # emoji
    assert (
        _share(examples, r"[（(][^()（）]{0,6}[´ω；;＾^゜Д▽][^()（）]{0,6}[)）]") >= 15
    )  # kaomoji
    assert _share(examples, "[０-９Ａ-Ｚａ-ｚ]|[ｦ-ﾟ]") >= 40  # full-/half-width mixes
    assert _share(examples, "ｗ|w{2,}|草|ワロ|マジ|ガチ") >= 50  # net slang

    # Harshly worded but legitimate criticism, harsh-looking praise, hedged allegations.
    criticism = by_label["criticism"]
    for phrase in ("最悪", "二度と", "ぼったくり", "ありえな|あり得な", "ひどい|酷い"):
        assert _share(criticism, phrase) >= 5, phrase
    assert _share(by_label["benign"], "死ぬ|殺|ヤバ|やば|地獄|鬼|激痛|神|えぐ|恐ろし|狂") >= 30
    assert _share(by_label["defamation"], "らしい|聞いた|噂|だそう|とのこと") >= 100


def test_held_out_split_is_the_shipped_file_and_training_never_sees_it() -> None:
    parts = split(load_corpus())
    shipped = read_tsv(HELDOUT_FILE)

    assert sorted((e.label, e.text) for e in shipped) == sorted(
        (e.label, e.text) for e in parts["test"]
    ), "data/corpus/heldout.tsv is stale: run `python -m classifier.corpus`"
    held_out = {split_key(e.text) for e in shipped}
    seen = {split_key(e.text) for e in parts["train"] + parts["validation"]}
    assert not held_out & seen
    assert 0.15 <= len(shipped) / sum(len(p) for p in parts.values()) <= 0.25
    assert (
        Counter(e.label for e in shipped).keys() == Counter(e.label for e in parts["train"]).keys()
    )
