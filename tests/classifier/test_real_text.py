"""The model on text nobody on the project wrote, and on what it must not mistake for attacks:
real neutral sentences it never trained on, harsh but honest reviews, unfamiliar vocabulary;
and what a flag must carry — evidence, named in the reasons."""

from __future__ import annotations

import numpy as np
import pytest

from classifier import Classifier
from classifier.corpus import HELDOUT_FILE, load_background, read_tsv
from classifier.evaluation import calibration
from classifier.training import TrainedModel

# Reasons that name an attack: an attack signal's reason, or the words that are the evidence.
ATTACK_REASONS = (
    "具体的な犯罪・不正行為の断定",
    "侮辱表現",
    "脅迫表現",
    "差別表現",
    "電話番号の記載",
    "住所の記載",
    "人名（個人名）の記載",
    "攻撃的な投稿に特徴的な語",
)


def test_real_neutral_sentences_held_back_from_training_are_rarely_flagged(
    model: Classifier,
) -> None:
    heldback = load_background()["heldback"]
    # Every third sentence: ~2,000 captions and everyday questions, enough to see 1 %.
    sample = heldback[::3]
    results = model.classify(sample)
    flagged = [r.text for r in results if r.flagged]
    print(f"background: {len(flagged)} of {len(sample)} flagged: {flagged[:10]}")

    assert len(sample) > 1_500
    assert len(flagged) / len(sample) <= 0.01
    # Not merely under the threshold: ordinary text scores like an ordinary review at most.
    probability = np.asarray([r.harmful_probability for r in results])
    assert np.quantile(probability, 0.95) <= model.no_evidence_cap


def test_background_held_back_part_is_never_trained_on(trained: TrainedModel) -> None:
    parts = load_background()
    assert not set(parts["train"]) & set(parts["heldback"])
    assert trained.classifier.info.training["n_background"] == len(parts["train"])
    background = trained.classifier.info.metrics["background"]
    assert background["n"] == len(parts["heldback"])
    assert background["flagged"] <= 0.01


# Written for these tests: harsh, honest accounts of the poster's own experience (a clinic, a
# hotel, a shop) — no one insulted, threatened, accused of a crime or exposed.
HARSH_BUT_HONEST = [
    "二時間待ってやっと呼ばれたと思ったら三分で終わり。説明も一切なし。もう行きません。",
    "部屋がタバコ臭くて、シーツにも染みがありました。この値段でこれはひどいと思います。",
    "料理が冷めていて味も薄い。店員さんも忙しそうで、注文を三回も忘れられた。",
    "予約の電話をしたら保留のまま十分放置。こちらから切りました。",
    "薬の説明が早口で全然わからなかった。質問しても面倒くさそうにされて悲しかったです。",
    "駐車場が狭すぎて、車をぶつけそうになった。案内の看板もわかりにくい。",
    "値段の割に効果を感じられず、正直がっかりです。",
]


@pytest.mark.parametrize("text", HARSH_BUT_HONEST)
def test_harsh_but_honest_reviews_are_not_flagged(model: Classifier, text: str) -> None:
    result = model.classify([text])[0]

    assert not result.flagged, result
    assert result.label in ("criticism", "benign")


# Ordinary remarks far from clinic reviews (written for this test): other topics and registers.
UNFAMILIAR = [
    "週末は友だちと釣りに行って、アジを二十匹も釣った",
    "量子コンピュータの誤り訂正符号について調べている",
    "ｷﾀ━━━━(ﾟ∀ﾟ)━━━━!! 新作ゲーム発売日",
    "Der Zug nach München hat heute Verspätung.",
    "ベランダのミニトマトがやっと赤くなった",
]


@pytest.mark.parametrize("text", UNFAMILIAR)
def test_unfamiliar_text_without_an_attack_scores_no_higher_than_an_average_review(
    model: Classifier, text: str
) -> None:
    result = model.classify([text])[0]

    assert not result.flagged, result
    assert result.harmful_probability <= model.no_evidence_cap


def test_every_flagged_text_names_what_attacks(model: Classifier) -> None:
    examples = read_tsv(HELDOUT_FILE)
    results = model.classify([e.text for e in examples])
    flagged = [r for r in results if r.flagged]

    assert len(flagged) > 200
    for result in flagged:
        assert any(r.startswith(ATTACK_REASONS) for r in result.reasons), result


def test_a_name_with_private_whereabouts_is_a_privacy_attack(model: Classifier) -> None:
    exposed, thanked = model.classify(
        [
            "看護師の鈴木、毎晩九時に駅前のジムに寄ってから帰ってる。娘は近くの小学校に通ってるよ",
            "看護師の鈴木さんが毎回丁寧に採血してくれて、痛くありませんでした",
        ]
    )

    assert exposed.flagged and exposed.category == "privacy", exposed
    assert any(r.startswith("人名（個人名）の記載（鈴木") for r in exposed.reasons), exposed
    # Naming someone to thank them exposes nothing.
    assert not thanked.flagged
    assert not any("人名" in r for r in thanked.reasons), thanked


def test_probabilities_are_shifted_to_the_assumed_share_of_harmful_reviews(
    trained: TrainedModel,
) -> None:
    info = trained.classifier.info
    # The corpus is about half attacks (background text dilutes it); real reviews are not.
    assert 0.2 < info.training_prior < 0.5
    assert info.harmful_prior == 0.03
    assert info.threshold > trained.classifier.no_evidence_cap

    examples = read_tsv(HELDOUT_FILE)
    results = trained.classifier.classify([e.text for e in examples])
    report = calibration(examples, results, info.harmful_prior)
    # Better than saying "3 %" for every text (whose Brier score is 0.03 * 0.97).
    assert report["brier"] < 0.75 * 0.03 * 0.97
    rows = report["table"]
    assert abs(sum(row["weight"] for row in rows) - 1.0) < 1e-3
    # The lowest scores are mostly honest reviews, the highest mostly attacks.
    assert rows[0]["harmful_rate"] < 0.01 and rows[-1]["harmful_rate"] > 0.5


def test_a_learnt_attack_word_counts_only_in_a_remark_aimed_at_someone(model: Classifier) -> None:
    from classifier.signals import aims_at_someone
    from classifier.text import analyse, clean

    aimed = "受付の女、明日の夜も待合で待ってるから"
    about_nothing = "明日の夜は流星群が見えるらしい"
    assert aims_at_someone(analyse(clean(aimed)))
    assert not aims_at_someone(analyse(clean(about_nothing)))
    threat, remark = model.classify([aimed, about_nothing])

    assert threat.flagged and threat.category == "threat", threat
    assert not remark.flagged and remark.harmful_probability <= model.no_evidence_cap, remark
