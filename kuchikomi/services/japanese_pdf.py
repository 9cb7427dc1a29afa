"""Printable Japanese PDFs (evidence reports, takedown drafts) with reportlab.

Uses reportlab's built-in CID fonts (HeiseiKakuGo-W5, HeiseiMin-W3): no font file to ship or
download. They are not embedded, so the reader supplies a Japanese font (every Japanese PDF reader
does). Review text is untrusted: everything passes through :func:`text_paragraph`, which escapes
reportlab's paragraph markup so that a review containing ``<b>`` or ``<script>`` prints as typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

GOTHIC = "HeiseiKakuGo-W5"
MINCHO = "HeiseiMin-W3"

# Control characters (other than newline and tab) break PDF text and mean nothing on paper.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@lru_cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(GOTHIC))
    pdfmetrics.registerFont(UnicodeCIDFont(MINCHO))


@lru_cache
def styles() -> dict[str, ParagraphStyle]:
    _register_fonts()
    # wordWrap="CJK": Japanese has no spaces, so lines may break between any two characters.
    body = ParagraphStyle("body", fontName=MINCHO, fontSize=10, leading=15, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title",
            parent=body,
            fontName=GOTHIC,
            fontSize=16,
            leading=22,
            alignment=1,
            spaceAfter=6 * mm,
        ),
        "heading": ParagraphStyle(
            "heading",
            parent=body,
            fontName=GOTHIC,
            fontSize=11.5,
            leading=17,
            spaceBefore=5 * mm,
            spaceAfter=2 * mm,
        ),
        "body": body,
        "label": ParagraphStyle("label", parent=body, fontName=GOTHIC, fontSize=9, leading=13),
        "small": ParagraphStyle("small", parent=body, fontSize=8.5, leading=12),
        "mono": ParagraphStyle(
            "mono", parent=body, fontName="Courier", fontSize=8, leading=11, wordWrap="CJK"
        ),
        "right": ParagraphStyle("right", parent=body, alignment=2),
    }


# The built-in CID fonts cover JIS, not characters beyond the Basic Multilingual Plane (emoji,
# rare kanji): printed as boxes they would be lost, so they are written as their code point.
_ASTRAL = re.compile(r"[\U00010000-\U0010FFFF]")


def clean(text: str) -> str:
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _ASTRAL.sub(lambda m: f"〔U+{ord(m.group()):X}〕", text)


def text_paragraph(text: str | None, style: str = "body") -> Paragraph:
    """A paragraph showing ``text`` exactly as written: markup escaped, line breaks kept."""
    escaped = escape(clean(text or "")).replace("\n", "<br/>").replace("\t", "&nbsp;" * 4)
    return Paragraph(escaped or "&nbsp;", styles()[style])


def field_table(
    rows: Sequence[tuple[str, str | Flowable | None]], label_width: float = 38 * mm
) -> Table:
    """A two-column form: label on the left, value (text or a flowable) on the right."""
    data = [
        [
            text_paragraph(label, "label"),
            value if isinstance(value, Flowable) else text_paragraph(value or ""),
        ]
        for label, value in rows
    ]
    table = Table(data, colWidths=[label_width, A4[0] - 40 * mm - label_width])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.93, 0.93, 0.93)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def render(flowables: list[Any], *, title: str, footer: str) -> bytes:
    """Lay out ``flowables`` on A4 pages with a footer and page numbers; returns the PDF bytes."""
    _register_fonts()
    buffer = BytesIO()

    def _footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(GOTHIC, 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(20 * mm, 10 * mm, clean(footer))
        canvas.drawRightString(A4[0] - 20 * mm, 10 * mm, f"{doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=clean(title),
        author="kuchikomi-guard",
        creator="kuchikomi-guard",
    )
    doc.build(flowables, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()
