"""Takedown request drafts: the 送信防止措置依頼書 (テレサ書式) prefilled from a review.

The form and who may file it: docs/domain.md.

Only the victim or their lawyer may file a request, so this module drafts and the
clinic signs: the requester's 住所・氏名・連絡先 are left empty for them. What is
written under 侵害されたとする権利 and 権利が侵害されたとする理由 is forwarded to the
poster, so the prefilled text states facts (what was posted, where, what kind of statement
it is) and leaves what only the clinic knows (why an allegation is untrue) as a bracketed
blank to fill in, never an invented claim.

The draft is rendered as JSON, .docx (python-docx) and PDF (reportlab, with an embedded Japanese
font: :mod:`kuchikomi.services.japanese_pdf`). Fields edited by staff are stored on the takedown
case (:mod:`kuchikomi.services.cases`) and override the prefilled ones; every rendering reads the
same :class:`TakedownDraft`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kuchikomi.japanese import ja_date
from kuchikomi.schemas import Text
from kuchikomi.services import japanese_pdf as jp
from kuchikomi.services.visibility import visible_review
from models import Listing, Review

CATEGORY_JA = {
    "defamation": "名誉毀損",
    "insult": "侮辱・名誉感情の侵害",
    "threat": "脅迫・業務妨害",
    "privacy": "プライバシー侵害",
    "discrimination": "差別",
}

# 侵害されたとする権利 for each confirmed category (docs/domain.md).
RIGHTS_BY_CATEGORY: dict[str, list[str]] = {
    "defamation": ["名誉権"],
    "insult": ["名誉感情"],
    "threat": ["平穏な生活を営む権利", "業務を平穏に遂行する権利"],
    "privacy": ["プライバシー権"],
    "discrimination": ["名誉感情", "平穏な生活を営む権利"],
}

# What the statement is, in words that may be forwarded to the poster: a description of the
# post, not an accusation of the poster.
_REASON_OPENING: dict[str, str] = {
    "defamation": (
        "本件投稿は、当院について{fact}との事実を摘示するものです。"
        "不特定多数の者が閲覧できる口コミ欄に掲載されており、これを読んだ者に事実であると"
        "受け取られ、当院の社会的評価が低下しています。"
    ),
    "insult": (
        "本件投稿は、具体的な事実を示すことなく、当院（又はその職員）を侮辱する表現を用いる"
        "ものです。その表現は社会通念上許される限度を超えており、名誉感情を侵害しています。"
    ),
    "threat": (
        "本件投稿は、当院（又はその職員・家族）の生命・身体等に危害を加える旨を示すものであり、"
        "職員及び患者が不安を抱き、平穏な生活及び業務の遂行が妨げられています。"
    ),
    "privacy": (
        "本件投稿は、一般に公開されていない私生活上の事柄（個人を特定できる情報を含む）を、"
        "本人の同意なく公開するものであり、プライバシーを侵害しています。"
    ),
    "discrimination": (
        "本件投稿は、属性（国籍、民族、出身、性別、障害等）を理由に当院又はその職員を"
        "貶める表現を含むものであり、名誉感情及び平穏な生活を営む権利を侵害しています。"
    ),
}
_FACT_BLANK = "〔摘示されている事実〕"
_DAMAGE_BLANK = (
    "〔事実と異なる点、及び被害の状況（受診控え・問い合わせ・職員への影響等）を記載してください〕"
)

# Classifier reasons that speak about the model, not the post: they are not forwarded.
_INTERNAL_REASON = re.compile(r"^(強く寄与した語|長文のため)")

# Hosts of sites with their own deletion route, and a label for the addressee.
_SITES: dict[str, str] = {
    "google.com": "Google",
    "google.co.jp": "Google",
    "goo.gl": "Google",
    "qlife.jp": "QLife",
    "caloo.jp": "Caloo",
    "byoinnavi.jp": "病院なび",
    "epark.jp": "EPARK",
}

# Longest value accepted per edited field (characters): a form page, not a document store.
FIELD_MAX_CHARS: dict[str, int] = {
    "provider": 200,
    "location": 2048,
    "information": 20_000,
    "rights": 500,
    "reason": 10_000,
    "requester_address": 300,
    "requester_name": 200,
    "requester_contact": 300,
}
TEXT_FIELDS = tuple(FIELD_MAX_CHARS)
FIELD_LABELS: dict[str, str] = {
    "provider": "宛先（サイト運営者）",
    "location": "掲載されている場所",
    "information": "掲載されている情報",
    "rights": "侵害されたとする権利",
    "reason": "権利が侵害されたとする理由（被害の状況など）",
    "requester_address": "住所",
    "requester_name": "氏名（法人の場合は名称・代表者名）",
    "requester_contact": "連絡先（電話番号・メールアドレス）",
    "disclose_name": "発信者へ氏名を開示して差し支えない",
}


class DraftFields(BaseModel):
    """The fields of the request form, as they will be printed."""

    provider: str
    location: str
    information: str
    rights: str
    reason: str
    requester_address: str = ""
    requester_name: str = ""
    requester_contact: str = ""
    # テレサ書式: a ○ means the requester agrees that their name is shown to the poster.
    disclose_name: bool = False


class DraftEdit(BaseModel):
    """Staff edits of a draft: only the fields given change; an empty string clears a field
    back to empty (the requester's details) — send ``null`` or omit a field to keep it."""

    model_config = ConfigDict(extra="forbid")

    provider: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["provider"])
    location: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["location"])
    information: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["information"])
    rights: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["rights"])
    reason: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["reason"])
    requester_address: Text | None = Field(
        default=None, max_length=FIELD_MAX_CHARS["requester_address"]
    )
    requester_name: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["requester_name"])
    requester_contact: Text | None = Field(
        default=None, max_length=FIELD_MAX_CHARS["requester_contact"]
    )
    disclose_name: bool | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class RoutePublic(BaseModel):
    """A place to take the request or to ask for advice."""

    key: str
    name: str
    description: str
    url: str | None = None


class CaseBrief(BaseModel):
    status: str
    sent_via: str | None
    sent_on: date | None
    resolved_on: date | None
    removal_confirmed_at: datetime | None
    note: str | None
    updated_at: datetime


class TakedownDraft(BaseModel):
    """A request draft for one review: the form fields plus what staff need around them."""

    review_id: int
    clinic_id: int
    clinic_name: str
    site: str
    # The confirmed category when staff decided "harmful", else the classifier's suggestion.
    category: str | None
    category_ja: str | None
    category_confirmed: bool
    fields: DraftFields
    # Fields that hold staff edits rather than the prefilled text.
    edited: list[str]
    routes: list[RoutePublic]
    case: CaseBrief | None
    review_removed_at: datetime | None
    warnings: list[str]


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class _Confirmed:
    category: str | None
    confirmed: bool


def _latest_decision(session: Session, review_id: int) -> Any:
    from models.accounts import Decision

    return session.scalars(
        select(Decision).where(Decision.review_id == review_id).order_by(Decision.id.desc())
    ).first()


def _category(session: Session, review: Review) -> _Confirmed:
    decision = _latest_decision(session, review.id)
    if decision is not None and decision.decision == "harmful":
        return _Confirmed(decision.category, True)
    classification = review.classification
    suggested = classification.category if classification is not None else None
    return _Confirmed(suggested, False)


def site_of(url: str) -> tuple[str, str | None]:
    """(label for the site, known site key or None) from a listing or review URL."""
    host = (urlsplit(url).hostname or "").lower()
    for domain, label in _SITES.items():
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
        if _INTERNAL_REASON.match(reason):
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
    opening = _REASON_OPENING.get(category or "")
    if opening is None:
        reason = "〔本件投稿により侵害された権利と、その理由を記載してください〕"
    else:
        reason = opening.format(fact=_FACT_BLANK)
    classification = review.classification
    signals = forwardable_reasons(list(classification.reasons or [])) if classification else []
    if signals:
        reason += "\n本件投稿には、次の記載が含まれています：" + "、".join(signals) + "。"
    reason += "\n" + _DAMAGE_BLANK
    return DraftFields(
        provider=f"{site} 運営者",
        location=review.url or review.listing.url,
        information=information,
        rights=rights,
        reason=reason,
    )


def routes_for(site_key: str | None, site: str, category: str | None) -> list[RoutePublic]:
    """Where the request can go, the platform's own route first (docs/domain.md)."""
    routes: list[RoutePublic] = []
    if site_key == "Google":
        routes.append(
            RoutePublic(
                key="platform_form",
                name="Google の削除リクエスト（ビジネスプロフィールのクチコミ管理ツール）",
                description="オーナー確認済みのビジネスプロフィールから、ポリシー違反のクチコミを"
                "報告し、審査状況を確認できます。法的な理由による削除は Google の"
                "「法的な理由によるコンテンツの削除」フォームから依頼します。",
                url="https://support.google.com/business/",
            )
        )
    else:
        routes.append(
            RoutePublic(
                key="platform_form",
                name=f"{site} の削除依頼・問い合わせ窓口",
                description="掲載サイトの利用規約・ガイドラインに違反する投稿として、サイトの"
                "削除依頼フォーム（又は問い合わせ窓口）から依頼します。応じない場合は、"
                "この送信防止措置依頼書を運営者に送付します。",
            )
        )
    routes.append(
        RoutePublic(
            key="letter",
            name="送信防止措置依頼書の送付（サイト運営者宛）",
            description="この下書きに記名押印し、本人確認書類等を添えて運営者に送付します。"
            "運営者は発信者に意見を照会し、7日以内に反論がなければ削除できます。",
        )
    )
    routes.append(
        RoutePublic(
            key="ihaho",
            name="違法・有害情報相談センター（総務省）",
            description="削除依頼の方法や書き方について、専門の相談員に無料で相談できます。",
            url="https://ihaho.jp/",
        )
    )
    routes.append(
        RoutePublic(
            key="moj",
            name="法務局の人権相談（インターネット人権相談）",
            description="名誉毀損・プライバシー侵害等について相談でき、法務局から"
            "サイト運営者へ削除を要請してもらえる場合があります。",
            url="https://www.jinken.go.jp/",
        )
    )
    if category == "threat":
        routes.append(
            RoutePublic(
                key="police",
                name="警察への相談",
                description="脅迫・業務妨害のおそれがある場合は、最寄りの警察署又は警察相談"
                "専用電話（#9110）に相談してください。危険が差し迫っているときは110番。",
            )
        )
    routes.append(
        RoutePublic(
            key="lawyer",
            name="弁護士（発信者情報開示・損害賠償を含む）",
            description="運営者が削除に応じない場合の仮処分、投稿者を特定する発信者情報開示"
            "請求は弁護士に依頼します。接続事業者のログ保存期間は3〜6か月程度のため、"
            "早めの相談が必要です。費用の立替えは法テラスに相談できます。",
            url="https://www.houterasu.or.jp/",
        )
    )
    return routes


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
    from kuchikomi.services.cases import case_brief, get_case

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


# --------------------------------------------------------------------------- rendering

TITLE = "侵害情報の通知書 兼 送信防止措置依頼書"
REQUEST_SENTENCE = (
    "貴社が管理する特定電気通信設備に掲載されている下記の情報の流通により、"
    "私の権利が侵害されたので、貴社に対し当該情報の送信を防止する措置を講じるよう依頼します。"
)
AGREEMENT = (
    "上記の枠内に記載された内容は、事実に相違なく、貴社から発信者にそのまま通知される"
    "ことになることに同意いたします。"
)
DISCLOSE_NOTE = (
    "発信者へ氏名を開示して差し支えない場合は「○」を記入してください。"
    "○印のない場合、氏名開示には同意していないものとします。"
)
DRAFT_NOTE = (
    "下書き（kuchikomi-guard が作成）：提出できるのは被害者本人又はその代理人弁護士です。"
    "内容を確認・修正し、依頼者が記名押印のうえ提出してください。"
)


def _form_rows(draft: TakedownDraft) -> list[tuple[str, str]]:
    f = draft.fields
    return [
        ("掲載されている場所", f.location),
        ("掲載されている情報", f.information),
        ("侵害されたとする権利", f.rights),
        ("権利が侵害されたとする理由（被害の状況など）", f.reason),
    ]


def _requester_rows(draft: TakedownDraft) -> list[tuple[str, str]]:
    f = draft.fields
    return [
        ("住所", f.requester_address),
        ("氏名（記名押印）", f.requester_name),
        ("連絡先（電話番号・メールアドレス）", f.requester_contact),
        ("氏名開示への同意", "○" if f.disclose_name else ""),
    ]


def _memo_rows(draft: TakedownDraft) -> list[tuple[str, str]]:
    rows = [
        ("医療機関", draft.clinic_name),
        (
            "分類",
            (draft.category_ja or "（なし）")
            + ("（担当者が確認）" if draft.category_confirmed else "（自動分類の推定）"),
        ),
    ]
    if draft.case is not None:
        rows.append(("対応状況", CASE_STATUS_JA.get(draft.case.status, draft.case.status)))
    return rows


CASE_STATUS_JA = {
    "draft": "下書き",
    "sent": "送付済み（回答待ち）",
    "removed": "削除された",
    "refused": "削除を拒否された",
    "no_answer": "回答なし",
}


def draft_pdf(draft: TakedownDraft) -> bytes:
    p = jp.text_paragraph
    story: list[Any] = [
        p("年　　月　　日", "right"),
        p(f"{draft.fields.provider}　御中", "heading"),
        p(TITLE, "title"),
        p(REQUEST_SENTENCE),
        Spacer(1, 4),
        p("記", "heading"),
        jp.field_table(_form_rows(draft), label_width=45 * mm),
        Spacer(1, 4),
        p(AGREEMENT, "small"),
        p(DISCLOSE_NOTE, "small"),
        p("依頼者", "heading"),
        jp.field_table(_requester_rows(draft), label_width=45 * mm),
        Spacer(1, 6),
        p(DRAFT_NOTE, "small"),
        PageBreak(),
        p("担当者用メモ（この頁は送付しないでください）", "heading"),
        jp.field_table(_memo_rows(draft), label_width=45 * mm),
    ]
    for warning in draft.warnings:
        story.append(p("※ " + warning, "small"))
    story.append(p("提出先・相談先の候補", "heading"))
    for route in draft.routes:
        text = f"■ {route.name}\n{route.description}"
        if route.url:
            text += f"\n{route.url}"
        story.append(p(text, "small"))
        story.append(Spacer(1, 3))
    return jp.render(
        story,
        title=f"送信防止措置依頼書（下書き） review {draft.review_id}",
        footer=f"kuchikomi-guard 送信防止措置依頼書 下書き / review {draft.review_id}",
    )


# Characters XML 1.0 cannot hold: python-docx refuses them, and they mean nothing on paper.
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _docx_text(value: str) -> str:
    return _XML_INVALID.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def draft_docx(draft: TakedownDraft) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "MS Mincho"
    normal.font.size = Pt(10.5)
    # Word picks the font of Japanese characters from the eastAsia attribute, not w:ascii.
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "MS Mincho")
    document.core_properties.title = f"送信防止措置依頼書（下書き） review {draft.review_id}"
    document.core_properties.author = "kuchikomi-guard"

    def para(
        text: str, *, bold: bool = False, align: Any = None, size: float | None = None
    ) -> None:
        paragraph = document.add_paragraph()
        run = paragraph.add_run(_docx_text(text))
        run.bold = bold
        if size:
            run.font.size = Pt(size)
        if align is not None:
            paragraph.alignment = align

    def table(rows: list[tuple[str, str]]) -> None:
        grid = document.add_table(rows=0, cols=2)
        grid.style = "Table Grid"
        for label, value in rows:
            cells = grid.add_row().cells
            cells[0].text = _docx_text(label)
            cells[1].text = _docx_text(value)

    para("年　　月　　日", align=WD_ALIGN_PARAGRAPH.RIGHT)
    para(f"{draft.fields.provider}　御中", bold=True)
    para(TITLE, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=14)
    para(REQUEST_SENTENCE)
    para("記", align=WD_ALIGN_PARAGRAPH.CENTER)
    table(_form_rows(draft))
    para(AGREEMENT, size=9)
    para(DISCLOSE_NOTE, size=9)
    para("依頼者", bold=True)
    table(_requester_rows(draft))
    para(DRAFT_NOTE, size=9)

    document.add_page_break()  # type: ignore[no-untyped-call]
    para("担当者用メモ（この頁は送付しないでください）", bold=True)
    table(_memo_rows(draft))
    for warning in draft.warnings:
        para("※ " + warning, size=9)
    para("提出先・相談先の候補", bold=True)
    for route in draft.routes:
        para(f"■ {route.name}", bold=True, size=9.5)
        para(route.description + (f"\n{route.url}" if route.url else ""), size=9)

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
