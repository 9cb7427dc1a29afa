"""Rating drops, copy-paste clusters, persistent authors and the timing rule, on small cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from detector import (
    AUTHOR,
    DUPLICATE,
    RATING_DROP,
    ReviewArrays,
    author_key,
    burst_time,
    detect,
    duplicate_clusters,
)
from detector.duplicates import DuplicateParams, _similar, normalize_text, similarity
from tests.detector.timelines import Timeline

ATTACK = (
    "この病院の院長は患者から不正に高額な料金を請求しています。"
    "受付の対応も最悪で二度と行きません。皆さん気をつけてください。"
)
# The same post reworded the way campaigns dodge exact-match filters: sentences shuffled,
# particles and words swapped, punctuation and width changed.
REWORDED = [
    "受付の対応も最悪で二度と行きません。この病院の院長は患者から不正に高額な料金を請求しています！皆さん気を付けてください",
    "皆さん気をつけてください。ここの院長は患者から不正に高い料金を請求しているんです。受付の対応も最悪、二度と行きません。",
    "ここの院長、患者から不正に高額な料金を請求してます。受付の対応も最悪。二度と行きません！！皆さんも気をつけて下さい。",
]
ORDINARY = [
    "先生がとても丁寧に説明してくれて安心しました。待ち時間も短く、受付の方も親切でした。",
    "予約していたのに一時間以上待たされました。説明はわかりやすかったです。",
    "駅から近くて通いやすいです。院内は清潔で、子ども連れでも安心でした。",
    "薬の副作用についてきちんと説明してもらえました。また何かあればお願いしたいです。",
    "受付の方の態度が少し冷たく感じました。先生は優しかったです。",
    "土曜日も診てもらえるので助かっています。駐車場が狭いのが難点です。",
    "インフルエンザの検査が早くて助かりました。薬局も隣にあって便利です。",
    "親知らずの抜歯、思ったより痛くなかった。腫れもすぐ引きました。",
    "子どもの発熱で受診。看護師さんが声をかけてくれて子どもも泣かずに済みました。",
    "会計の待ち時間が長いです。キャッシュレス決済に対応してほしい。",
    "先生の説明が早口で少し聞き取りにくかった。質問すると答えてくれます。",
    "健康診断で利用。流れがスムーズで一時間かからずに終わりました。",
]


def test_a_day_of_one_star_reviews_is_a_rating_drop() -> None:
    t = Timeline()
    for day in range(120):
        t.add(1, day, 1, rating=4.0 + (day % 2))
    drop = t.add(1, 100, 4, rating=1.0)
    found = [b for b in detect(ReviewArrays.from_points(t.points)) if b.kind == RATING_DROP]
    assert len(found) == 1
    assert set(drop) <= set(found[0].review_ids)
    assert found[0].observed < 2.0 < 4.0 < found[0].expected


def test_ordinary_rating_scatter_is_not_a_drop() -> None:
    t = Timeline()
    rng = np.random.default_rng(11)
    for day in range(365):
        for _ in range(int(rng.poisson(3))):
            t.add(1, day, 1, rating=float(rng.choice([1, 2, 3, 4, 5], p=[0.1, 0.1, 0.2, 0.3, 0.3])))
    found = [b for b in detect(ReviewArrays.from_points(t.points)) if b.kind == RATING_DROP]
    assert found == []


def test_reworded_copy_paste_cluster_is_found_and_ordinary_reviews_are_not() -> None:
    texts = ORDINARY[:6] + [ATTACK] + ORDINARY[6:] + REWORDED
    clusters = duplicate_clusters(texts)
    attack_rows = [6] + list(range(len(ORDINARY) + 1, len(texts)))
    assert clusters == [attack_rows]


def test_the_bulk_exact_check_is_the_2gram_jaccard_of_each_pair() -> None:
    # Every pair of texts: reworded copies, ordinary reviews, full-width letters, emoji and rare
    # kanji beyond the BMP, and texts too short to count.
    texts = [
        ATTACK,
        *REWORDED,
        *ORDINARY,
        "ＡＢＣクリニックの院長は患者から不正に高額な料金を請求しています😡😡",
        "𠮷野家の隣の医院、院長は患者から不正に高額な料金を請求しています。最悪。",
        "丁寧でした。",
        "",
    ]
    params = DuplicateParams()
    a, b = np.triu_indices(len(texts), k=1)
    expected = [
        len(normalize_text(texts[i])) >= params.min_chars
        and len(normalize_text(texts[j])) >= params.min_chars
        and similarity(normalize_text(texts[i]), normalize_text(texts[j])) >= params.threshold
        for i, j in zip(a.tolist(), b.tolist(), strict=True)
    ]
    assert _similar(texts, a, b, params).tolist() == expected
    # Among them every pair of the attack and its rewordings (texts 0-3), which a check that
    # verified nothing would miss.
    verified = {(i, j) for i, j, ok in zip(a.tolist(), b.tolist(), expected, strict=True) if ok}
    assert {(i, j) for i in range(4) for j in range(i + 1, 4)} <= verified


def test_short_generic_texts_never_form_a_cluster() -> None:
    assert duplicate_clusters(["丁寧でした。"] * 10 + ["よかったです"] * 10) == []


def test_reviews_sharing_common_phrases_are_not_clustered() -> None:
    # Everybody thanks the doctor and ends with "ました": shared phrases, different reviews.
    texts = [f"{text}本当にありがとうございました。" for text in ORDINARY]
    texts += [f"先生の説明がわかりやすかったです。{text}" for text in ORDINARY]
    assert duplicate_clusters(texts) == []


def test_copies_are_linked_within_the_window_between_consecutive_posts() -> None:
    day = 86_400.0
    texts = ORDINARY + [ATTACK, *REWORDED]
    attack_rows = list(range(len(ORDINARY), len(texts)))
    background = [float(i) * 30 * day for i in range(len(ORDINARY))]
    # One copy every ten days: the window bounds the gap between copies, not the campaign.
    every_ten_days = background + [400 * day + i * 10 * day for i in range(4)]
    assert duplicate_clusters(texts, times=np.array(every_ten_days)) == [attack_rows]
    # The same texts posted months apart are no campaign.
    months_apart = background + [400 * day + i * 90 * day for i in range(4)]
    assert duplicate_clusters(texts, times=np.array(months_apart)) == []


def test_duplicate_bursts_within_and_across_clinics() -> None:
    t = Timeline()
    for i, text in enumerate(ORDINARY):
        t.add(1 + i % 3, i, 1, text=text)
    within = [t.add(1, 30 + i, 1, text=text)[0] for i, text in enumerate([ATTACK, *REWORDED[:2]])]
    across = [t.add(2 + i, 40 + i, 1, text=REWORDED[2])[0] for i in range(2)]
    found = [b for b in detect(ReviewArrays.from_points(t.points)) if b.kind == DUPLICATE]
    by_clinic = {b.clinic_id: b for b in found}
    assert set(by_clinic) == {1, 2, 3}
    assert by_clinic[1].review_ids == within
    assert by_clinic[2].review_ids == [across[0]]
    assert by_clinic[3].review_ids == [across[1]]
    assert all(b.details["cross_clinic"] for b in found)
    assert by_clinic[1].details["cluster_size"] == 5


def test_one_author_posting_repeatedly_about_one_clinic() -> None:
    t = Timeline()
    t.daily(1, 200, lambda d: 1, author=lambda rid: f"患者{rid}さん")
    posts = [t.add(1, day, 1, author="山田 太郎")[0] for day in (20, 50, 95)]
    t.add(1, 290, 1, author="山田太郎")  # more than 180 days after the third: a new run
    # Placeholders shared by thousands of people are never one author.
    for day in range(0, 200, 10):
        t.add(1, day, 1, author="30代 女性")
        t.add(1, day, 1, author="匿名")
    found = [b for b in detect(ReviewArrays.from_points(t.points)) if b.kind == AUTHOR]
    assert len(found) == 1
    assert found[0].review_ids == posts
    assert found[0].details["scope"] == "one_clinic"
    assert found[0].details["author"] == "山田 太郎"


def test_one_author_reviewing_many_clinics_in_a_short_time() -> None:
    t = Timeline()
    posts = [
        t.add(clinic, 5 + clinic, 1, author="kuchikomi_hunter", flagged=True)[0]
        for clinic in (1, 2, 3, 4)
    ]
    t.add(9, 300, 1, author="kuchikomi_hunter")  # months later: not part of the run
    t.add(1, 3, 1, author="佐藤")
    t.add(2, 80, 1, author="佐藤")  # two clinics months apart: ordinary
    found = [b for b in detect(ReviewArrays.from_points(t.points)) if b.kind == AUTHOR]
    assert sorted(b.clinic_id for b in found) == [1, 2, 3, 4]
    assert sorted(r for b in found for r in b.review_ids) == posts
    assert all(b.details["scope"] == "many_clinics" and b.harmful_share == 1.0 for b in found)


def test_author_key_ignores_placeholders_and_spacing() -> None:
    assert author_key("山田 太郎") == author_key("山田太郎") == author_key("山田　太郎")
    for placeholder in ("匿名", "30代 女性", "４０代男性", "A Google user", "", None, "ゲストさん"):
        assert author_key(placeholder) is None, placeholder


def test_timing_rule() -> None:
    listing_start = datetime(2025, 3, 1, tzinfo=UTC)
    later = listing_start + timedelta(days=30)
    exact = datetime(2025, 3, 20, tzinfo=UTC)
    assert (
        burst_time(
            posted_at=exact,
            posted_at_exact=True,
            first_seen_at=later,
            listing_first_seen_at=listing_start,
        )
        == exact
    )
    # A relative date ("3日前") is only an estimate: time by when we first saw the review.
    assert (
        burst_time(
            posted_at=exact,
            posted_at_exact=False,
            first_seen_at=later,
            listing_first_seen_at=listing_start,
        )
        == later
    )
    # Reviews already there at the listing's first crawl are not new that day.
    old = datetime(2024, 12, 1, tzinfo=UTC)
    assert (
        burst_time(
            posted_at=old,
            posted_at_exact=False,
            first_seen_at=listing_start,
            listing_first_seen_at=listing_start,
        )
        == old
    )
    assert (
        burst_time(
            posted_at=None,
            posted_at_exact=False,
            first_seen_at=listing_start,
            listing_first_seen_at=listing_start,
        )
        is None
    )
    # A site date later than our first sighting is a clock error.
    assert (
        burst_time(
            posted_at=later + timedelta(days=2),
            posted_at_exact=True,
            first_seen_at=later,
            listing_first_seen_at=listing_start,
        )
        == later
    )
