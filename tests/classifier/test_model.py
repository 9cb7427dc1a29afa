"""The trained model on texts it has never seen: the held-out split, hard cases, odd input,
its reasons, and what is stored beside it (version, data hash, metrics, threshold)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from classifier import Classifier, ModelLoadError, load_model
from classifier.corpus import (
    HELDOUT_FILE,
    Example,
    data_hash,
    load_background,
    load_corpus,
    read_tsv,
    split,
)
from classifier.evaluation import MAX_CRITICISM_FLAGGED, MIN_HARMFUL_RECALL, evaluate
from classifier.signals import fire
from classifier.text import MAX_CHARS, analyse_texts, clean
from classifier.training import TrainedModel


def test_held_out_split_meets_the_targets(model: Classifier) -> None:
    examples = read_tsv(HELDOUT_FILE)
    metrics = evaluate(examples, model.classify([e.text for e in examples]))
    print(
        f"held-out: n={metrics['n']} accuracy={metrics['accuracy']} macro-F1={metrics['macro_f1']}"
        f" harmful recall={metrics['harmful_recall']}"
        f" criticism flagged={metrics['criticism_flagged']} grey={metrics['grey']}"
    )

    assert metrics["harmful_recall"] >= MIN_HARMFUL_RECALL == 0.95
    assert metrics["criticism_flagged"] <= MAX_CRITICISM_FLAGGED == 0.05
    assert metrics["macro_f1"] >= 0.75
    assert metrics["category_accuracy"] >= 0.75


def test_grey_zone_lands_between_criticism_and_harmful(model: Classifier) -> None:
    examples = read_tsv(HELDOUT_FILE)
    probability = dict(
        zip(
            [e.text for e in examples],
            model.harmful_probabilities([e.text for e in examples]),
            strict=True,
        )
    )

    def median(label: str) -> float:
        return statistics.median(probability[e.text] for e in examples if e.coarse_label == label)

    grey = [probability[e.text] for e in examples if e.label == "grey"]
    assert median("criticism") < median("grey") < median("harmful")
    assert median("grey") < model.threshold < median("harmful")
    assert np.mean(np.asarray(grey) >= model.threshold) <= 1 / 3
    assert np.mean(np.asarray(grey) >= 0.9) <= 0.1


def test_threshold_was_chosen_on_validation_and_is_stored_with_the_model(
    trained: TrainedModel,
) -> None:
    assert trained.path is not None
    stored = json.loads(trained.path.with_suffix(".json").read_text(encoding="utf-8"))
    selection = stored["metrics"]["threshold_selection"]

    assert stored["threshold"] == trained.classifier.threshold
    # Criticism is protected first; recall on validation is bounded by the evidence rule (a
    # harmful text the model catches but that holds no nameable attack is not flagged).
    assert selection["criticism_flagged"] <= 0.05
    assert selection["harmful_recall"] >= 0.9
    assert selection["n_harmful"] + selection["n_criticism"] < stored["training"]["n_train"]
    # Reloaded from disk, the model scores exactly as the one just trained.
    reloaded = load_model(trained.path)
    texts = ["院長、夜道に気をつけろよ", "待ち時間が長かった"]
    assert reloaded.threshold == trained.classifier.threshold
    assert np.allclose(
        reloaded.harmful_probabilities(texts), trained.classifier.harmful_probabilities(texts)
    )


def test_model_records_id_training_data_hash_and_held_out_metrics(trained: TrainedModel) -> None:
    info = trained.classifier.info
    parts = split(load_corpus())

    assert info.model_id.endswith(info.training_data_sha256[:8])
    background = [Example("benign", t) for t in load_background()["train"]]
    assert info.training_data_sha256 == data_hash(parts["train"] + parts["validation"] + background)
    assert info.metrics["test"]["n"] > 500
    assert info.training["n_test"] == len(parts["test"])
    assert trained.classifier.classify(["ok"])[0].model_version == info.model_id


# Texts written for these tests, not in the corpus.
NOT_FLAGGED = [
    "死ぬほど痛かった親知らずを一瞬で抜いてくれた",
    "殺されるかと思うくらい痛い注射だったけど、おかげで熱はすぐ下がりました",
    "待ち時間が長すぎて最悪。二度と行かない。しかもぼったくり価格",
    "受付の態度が最悪でした。予約の意味がないくらい待たされ、説明もありません。",
    "先生の説明がとても丁寧で、安心して治療を受けられました",
    "駐車場は10台分。土日も診療しています。",
]


@pytest.mark.parametrize("text", NOT_FLAGGED)
def test_praise_and_harsh_but_legitimate_criticism_are_not_flagged(
    model: Classifier, text: str
) -> None:
    result = model.classify([text])[0]

    assert not result.flagged, result
    assert result.label in ("criticism", "benign")
    assert result.category is None


FLAGGED = [
    ("受付の女、今度会ったら刺してやる。覚悟しとけ", "threat", "脅迫表現（刺してやる"),
    ("院長の家に火をつけてやるからな", "threat", "脅迫表現（火をつけ"),
    (
        "聞いた話では、ここの院長は保険の不正請求で何度も指導を受けているらしい",
        "defamation",
        "具体的な犯罪・不正行為の断定（不正請求）",
    ),
    ("院長はクズ。ゴミ医者。さっさと死ね", "insult", "侮辱表現（クズ"),
    ("外国人の医者なんかに診てもらいたくない。国に帰れ", "discrimination", "差別表現（外国人"),
    (
        "看護師の田中は不倫してて、090-1234-5678に電話すれば本人が出るよ",
        "privacy",
        "電話番号の記載",
    ),
]


@pytest.mark.parametrize(("text", "category", "reason"), FLAGGED)
def test_attacks_are_flagged_with_their_category_and_a_reason(
    model: Classifier, text: str, category: str, reason: str
) -> None:
    result = model.classify([text])[0]

    assert result.flagged and result.label == "harmful", result
    assert result.category == category
    assert any(r.startswith(reason) for r in result.reasons), result.reasons
    assert result.harmful_probability >= model.threshold


def test_reasons_name_the_signals_and_the_strongest_words_as_written(
    model: Classifier,
) -> None:
    threat, hearsay, insult, phone = model.classify(
        [
            "あの歯医者、燃やしてやる",
            "知り合いの元職員から聞いたけど、ここは期限切れの薬を使い回してるらしい",
            "院長はクズ。ゴミ医者。さっさと死ね",
            "受付の佐藤の番号は080-9876-5432、住所は緑町2-3-4",
        ]
    )

    assert "脅迫表現（燃やし）" in threat.reasons
    assert hearsay.category == "defamation"
    assert any(r.startswith("具体的な犯罪・不正行為の断定（期限切れの薬") for r in hearsay.reasons)
    assert any(r.startswith("伝聞による事実の摘示（") and "聞いた" in r for r in hearsay.reasons)
    for result in (hearsay, insult):
        words = [r for r in result.reasons if r.startswith("強く寄与した語: ")]
        assert len(words) == 1, result.reasons
        named = words[0].removeprefix("強く寄与した語: ").split("、")
        # Words as written in the review (not Sudachi's normalised forms), never particles.
        assert named and all(term in result.text for term in named), named
        assert not {"の", "は", "を", "に"} & set(named)
    # Reasons travel into takedown drafts: a phone number is not repeated there.
    assert phone.category == "privacy"
    assert "電話番号の記載" in phone.reasons
    assert not any("080" in r or "9876" in r for r in phone.reasons)


def test_odd_input_gets_a_classification_each(model: Classifier) -> None:
    threat = "院長、夜道に気をつけろよ。家は知ってるからな"
    threat_at_the_end = ("待合室は広くて明るいです。" * 8_000 + threat)[-MAX_CHARS:]
    texts = [
        "",
        "   \t ",
        "😀😀😀🙏",
        '<p onclick="x()">最悪の<b>対応</b></p><script>alert("燃やす")</script>',
        "受付\x00の\x07態度\x1bが\u202e最悪",
        "\ud800待ち時間が長い",
        threat_at_the_end,
        "とても親切でした。" * 20_000,
    ]

    results = model.classify(texts)

    assert [r.text for r in results] == texts
    empty, blank, emoji, html, control, surrogate, long_threat, too_long = results
    assert empty.label == blank.label == "benign" and empty.reasons == ["本文がありません"]
    assert emoji.label == "benign" and not emoji.flagged
    assert emoji.reasons == ["判断材料となる語がありません（絵文字・記号のみ等）"]
    # Markup is not text: the script's 燃やす does not count.
    assert html.label != "harmful" and not html.flagged
    assert not any("燃やす" in r for r in html.reasons)
    assert control.label == "criticism" and surrogate.label == "criticism"
    assert len(long_threat.text) == MAX_CHARS
    assert long_threat.flagged and long_threat.category == "threat"
    assert too_long.label == "benign"
    assert f"長文のため先頭{MAX_CHARS:,}字のみ解析" in too_long.reasons


def test_fast_feature_paths_count_exactly_like_the_plain_analysers(model: Classifier) -> None:
    texts = [e.text for e in load_corpus()[::7]] + ["", "a", "😀", "ｱｲｳ１２３ABC"]
    records = analyse_texts(texts)
    union = model.pipeline.named_steps["features"]
    for name in ("words", "chars"):
        vectorizer = union.named_transformers[name].named_steps["count"]
        fast = vectorizer.transform(records)
        saved = dict(vectorizer.__dict__)
        vectorizer.__dict__["_words"] = vectorizer.__dict__["_chars"] = None  # plain Python
        try:
            plain = vectorizer.transform(records)
        finally:
            vectorizer.__dict__.clear()
            vectorizer.__dict__.update(saved)
        assert fast.nnz > 0 and (fast != plain).nnz == 0, name


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  院長の  説明が\u3000丁寧  ", "院長の 説明が 丁寧"),
        ("受付\t対応\nが\r\n悪い\u2028です", "受付 対応 が 悪い です"),
        ("ゼロ\u200b幅\ufeffと\x00制御\x85文字", "ゼロ幅と制御文字"),
        ("ＡＢＣ１２３\u00a0ｶﾀｶﾅ", "ABC123 カタカナ"),
        ("<p>本文&amp;</p><script>x()</script>", "本文&"),
        ("改行は\\nでも", "改行は でも"),
    ],
)
def test_cleaning_drops_markup_and_controls_and_squeezes_white_space(
    raw: str, cleaned: str
) -> None:
    assert clean(raw) == cleaned


def test_signals_found_in_a_batch_are_those_found_text_by_text() -> None:
    from classifier.signals import _fired

    texts = [e.text for e in load_corpus()[::5]] + [
        "院長の家は港区",  # an address split across two texts must not be found
        "1-23です",
        "あの院長しね",  # 「しね」 at the very end of a text (the pattern's ``$``)
        "電話は03-1234-5678",
        "090-1234-5678と080",
        "",
    ]
    batch = analyse_texts(texts)
    alone = analyse_texts(texts)
    for record in alone:
        _fired(record)  # one text at a time
    fire(batch)
    assert sum(bool(r.memo["signals"]) for r in batch) > len(texts) // 3
    assert [r.memo["signals"] for r in batch] == [r.memo["signals"] for r in alone]
    assert "address" not in batch[-5].memo["signals"]
    assert batch[-3].memo["signals"]["phone"] == ["03-1234-5678"]
    assert batch[-4].memo["signals"]["insult"] == ["しね"]


@pytest.mark.parametrize("n_cols", [50, 2**30])  # 32-bit keys, and 64-bit ones
def test_counts_of_repeated_pairs_are_summed_per_row(n_cols: int) -> None:
    from scipy import sparse

    from classifier.features import _count_matrix

    rng = np.random.default_rng(3)
    row = rng.integers(0, 4, size=500).astype(np.int32)
    col = rng.choice([0, 7, n_cols - 2, n_cols - 1], size=500).astype(np.int32)
    counted = _count_matrix(row, col, (5, n_cols))
    expected = sparse.coo_matrix((np.ones(500), (row, col)), shape=(5, n_cols)).tocsr()
    assert counted.has_sorted_indices and counted.nnz == 16
    assert (counted != expected).nnz == 0
    assert counted[4].nnz == 0  # a text with nothing counted keeps its (empty) row


def test_the_ngram_hash_table_finds_every_key_and_nothing_else() -> None:
    from classifier.features import _KeyTable

    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 2**62, size=20_000, dtype=np.uint64))
    table = _KeyTable(keys, np.arange(len(keys), dtype=np.int32))
    assert table.probes > 1  # some keys shared a home slot: probing is exercised

    queries = np.concatenate([keys[::-1], keys + np.uint64(2**62)])  # present, then absent
    at, values = table.get(queries)
    found = dict(zip(at.tolist(), values.tolist(), strict=True))
    assert found == {i: len(keys) - 1 - i for i in range(len(keys))}


def test_a_model_file_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.dummy import DummyClassifier

    path = tmp_path / "evil.skops"
    sio.dump(DummyClassifier().fit([[0], [1]], [0, 1]), path)
    path.with_suffix(".json").write_text("{}", encoding="utf-8")

    with pytest.raises(ModelLoadError, match="does not trust: sklearn.dummy.DummyClassifier"):
        load_model(path)
