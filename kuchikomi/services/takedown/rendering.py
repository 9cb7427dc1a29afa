"""Rendering a draft on paper: .docx (python-docx) and PDF (reportlab, with an embedded Japanese
font: :mod:`kuchikomi.services.japanese_pdf`). Both read the same :class:`.TakedownDraft`.
"""

from __future__ import annotations

import io
import re
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Spacer

from kuchikomi.services import japanese_pdf as jp
from kuchikomi.services.takedown.schemas import TakedownDraft
from kuchikomi.services.takedown.wording import (
    AGREEMENT,
    CASE_STATUS_JA,
    DISCLOSE_NOTE,
    DRAFT_NOTE,
    REQUEST_SENTENCE,
    TITLE,
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
