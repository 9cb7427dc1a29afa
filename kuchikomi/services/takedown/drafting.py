"""Drafting: the request's fields prefilled from a review, with staff edits applied.

Only the victim or their lawyer may file a request, so this module drafts and the clinic signs:
the requester's 住所・氏名・連絡先 are left empty for them. Fields edited by staff are stored on
the takedown case (:mod:`kuchikomi.services.cases`, which imports this module, never the other
way round) and override the prefilled ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kuchikomi.japanese import ja_date
from kuchikomi.services.decisions import latest_decision
from kuchikomi.services.takedown.schemas import (
    DraftFields,
    TakedownDraft,
    case_brief,
)
from kuchikomi.services.takedown.wording import (
    CATEGORY_JA,
    DAMAGE_BLANK,
    FACT_BLANK,
    INTERNAL_REASON,
    REASON_OPENING,
    RIGHTS_BY_CATEGORY,
    SITES,
    routes_for,
)
from kuchikomi.services.visibility import visible_review
from models import Listing, Review
from models.cases import TakedownCase


@dataclass(frozen=True)
class _Confirmed:
    category: str | None
    confirmed: bool


def _category(session: Session, review: Review) -> _Confirmed:
    decision = latest_decision(session=session, review_id=review.id)
    if decision is not None and decision.decision == "harmful":
        return _Confirmed(decision.category, True)
    classification = review.classification
    suggested = classification.category if classification is not None else None
    return _Confirmed(suggested, False)


def site_of(url: str) -> tuple[str, str | None]:
    """(label for the site, known site key or None) from a listing or review URL."""
    host = (urlsplit(url).hostname or "").lower()
    for domain, label in SITES.items():
        if host == domain or host.endswith("." + domain):
            return label, label
    return host or "掲載サイト", None


def _jst_day(value: datetime | None) -> str:
    if value is None:
        return "（不明）"
    return ja_date(value)


def _post_date(review: Review) -> str:
    if review.posted_at is None:
        return f"投稿日の表示なし（{_jst_day(review.first_seen_at)}に掲載を確認）"
    if review.posted_at_exact:
        return _jst_day(review.posted_at)
    shown = f"「{review.posted_at_raw}」" if review.posted_at_raw else "相対表示"
    return f"{_jst_day(review.posted_at)}頃（サイト上の表示は{shown}）"


def forwardable_reasons(reasons: list[str]) -> list[str]:
    """The classifier's reasons fit to forward: what kind of statement the post contains.

    Internal notes (model terms, "要確認" hints for staff) are dropped or cut off.
    """
    out = []
    for reason in reasons:
        if INTERNAL_REASON.match(reason):
            continue
        reason = reason.split("：", 1)[0].strip()
        if reason and reason not in out:
            out.append(reason)
    return out


def _prefilled(review: Review, category: str | None, site: str) -> DraftFields:
    author = review.author or "（表示名なし）"
    information = (
        f"投稿者名「{author}」により{_post_date(review)}に投稿された次の文章"
        f"（掲載ページ：{review.listing.url}）\n\n{review.text}"
    )
    rights = "、".join(RIGHTS_BY_CATEGORY.get(category or "", [])) or "〔侵害されたとする権利〕"
    opening = REASON_OPENING.get(category or "")
    if opening is None:
        reason = "〔本件投稿により侵害された権利と、その理由を記載してください〕"
    else:
        reason = opening.format(fact=FACT_BLANK)
    classification = review.classification
    signals = forwardable_reasons(list(classification.reasons or [])) if classification else []
    if signals:
        reason += "\n本件投稿には、次の記載が含まれています：" + "、".join(signals) + "。"
    reason += "\n" + DAMAGE_BLANK
    return DraftFields(
        provider=f"{site} 運営者",
        location=review.url or review.listing.url,
        information=information,
        rights=rights,
        reason=reason,
    )


def load_review(session: Session, review_id: int, clinic_ids: list[int] | None = None) -> Review:
    """The review with its listing, clinic and classification; raises
    :class:`~kuchikomi.errors.ReviewNotFound` when it does not exist or is outside
    ``clinic_ids``."""
    return visible_review(
        session=session,
        review_id=review_id,
        clinic_ids=clinic_ids,
        options=(
            selectinload(Review.listing).selectinload(Listing.clinic),
            selectinload(Review.classification),
        ),
    )


def prefilled_fields(
    *, session: Session, review_id: int, clinic_ids: list[int] | None = None
) -> DraftFields:
    """The fields as prefilled from the review, without staff edits."""
    review = load_review(session, review_id, clinic_ids)
    site, _ = site_of(review.url or review.listing.url)
    return _prefilled(review, _category(session, review).category, site)


def build_draft(
    *, session: Session, review_id: int, clinic_ids: list[int] | None = None
) -> TakedownDraft:
    """The draft for one review, staff edits applied. Reads only."""
    review = load_review(session, review_id, clinic_ids)
    site, site_key = site_of(review.url or review.listing.url)
    confirmed = _category(session, review)
    fields = _prefilled(review, confirmed.category, site)
    case = get_case(session=session, review_id=review.id)
    edited: list[str] = []
    if case is not None and case.draft:
        values = fields.model_dump()
        for name, value in case.draft.items():
            if name in values:
                values[name] = value
                edited.append(name)
        fields = DraftFields.model_validate(values)

    warnings = []
    if not confirmed.confirmed:
        warnings.append(
            "担当者による「有害」の判断がまだありません。権利の種類は自動分類の推定です。"
        )
    if review.removed_at is not None:
        warnings.append("この口コミは最後の巡回で掲載が確認できませんでした（削除済みの可能性）。")
    if not review.url:
        warnings.append("投稿ごとのURLがないため、掲載ページのURLを記載しています。")
    return TakedownDraft(
        review_id=review.id,
        clinic_id=review.listing.clinic_id,
        clinic_name=review.listing.clinic.name,
        site=site,
        category=confirmed.category,
        category_ja=CATEGORY_JA.get(confirmed.category or ""),
        category_confirmed=confirmed.confirmed,
        fields=fields,
        edited=sorted(edited),
        routes=routes_for(site_key, site, confirmed.category),
        case=case_brief(case) if case is not None else None,
        review_removed_at=review.removed_at,
        warnings=warnings,
    )


def get_case(*, session: Session, review_id: int) -> TakedownCase | None:
    """The review's takedown case, if one was opened."""
    return session.scalars(
        select(TakedownCase).where(TakedownCase.review_id == review_id)
    ).one_or_none()
