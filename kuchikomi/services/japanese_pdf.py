"""Printable Japanese PDFs (evidence reports, takedown drafts) with reportlab.

The font is IPAexGothic (IPA Font License v1.0), taken from the ``matplotlib-fontja`` package that
ships it, and embedded as a subset: the documents print the same on a machine without any
Japanese font. Every character the font has no glyph for (emoji, rare kanji, control characters)
is written as its code point, 〔U+1F600〕, never drawn as an empty box.

Text of any length prints: long values are wrapped here, once, into lines and handed to reportlab
in blocks of whole lines, so a table row never grows taller than a page and a 100,000-character
review costs one pass (docs/domain.md#documents).

Review text is untrusted: everything passes through :func:`text_paragraph` or :func:`field_table`,
which escape reportlab's paragraph markup so that ``<b>`` or ``<script>`` prints as typed.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

FONT = "IPAexGothic"
FONT_PACKAGE = "matplotlib_fontja"
FONT_FILE = "fonts/ipaexg.ttf"
# Lines of a long value per table row: a row stays well under a page (A4 at 15 pt leading holds
# about 48 lines), so reportlab can break the table between rows.
LINES_PER_BLOCK = 8
CELL_PADDING = 6

# Characters that may not begin a line (行頭禁則): they stay at the end of the line before.
_NO_LINE_START = set("、。，．,.)）」』】〕〉》]｝}・ー…！？!?")
_NO_LINE_START |= set("ゃゅょっぁぃぅぇぉャュョッァィゥェォ々")


def font_path() -> Path:
    """IPAexGothic from the installed ``matplotlib-fontja`` (found, not imported: importing it
    would import matplotlib)."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the Japanese font package is missing: pip install matplotlib-fontja ({FONT_PACKAGE})"
        )
    return Path(list(spec.submodule_search_locations)[0]) / FONT_FILE


@lru_cache
def _font() -> TTFont:
    font = TTFont(FONT, str(font_path()))
    pdfmetrics.registerFont(font)
    return font


@lru_cache
def styles() -> dict[str, ParagraphStyle]:
    _font()
    # wordWrap="CJK": Japanese has no spaces, so lines may break between any two characters.
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title", parent=body, fontSize=16, leading=22, alignment=1, spaceAfter=6 * mm
        ),
        "heading": ParagraphStyle(
            "heading",
            parent=body,
            fontSize=11.5,
            leading=17,
            spaceBefore=5 * mm,
            spaceAfter=2 * mm,
        ),
        "body": body,
        "label": ParagraphStyle("label", parent=body, fontSize=9, leading=13),
        "small": ParagraphStyle("small", parent=body, fontSize=8.5, leading=12),
        "right": ParagraphStyle("right", parent=body, alignment=2),
    }


def _has_glyph(char: str) -> bool:
    return ord(char) in _font().face.charToGlyph


_SPACES = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f]")


def clean(text: str) -> str:
    """``text`` as it can be printed: line breaks kept, tabs and odd spaces made plain spaces,
    every character without a glyph in the font written as 〔U+XXXX〕."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = _SPACES.sub(" ", text)
    return "".join(ch if ch == "\n" or _has_glyph(ch) else f"〔U+{ord(ch):04X}〕" for ch in text)


def _markup(text: str) -> str:
    # Runs of spaces would collapse in a paragraph; &#160; keeps them (the font has the glyph).
    escaped = escape(text).replace("  ", " &#160;")
    return escaped.replace("\n", "<br/>")


def text_paragraph(text: str | None, style: str = "body") -> Paragraph:
    """A paragraph showing ``text`` exactly as written: markup escaped, line breaks kept."""
    return Paragraph(_markup(clean(text or "")), styles()[style])


def wrap_lines(text: str, style: ParagraphStyle, width: float) -> list[str]:
    """``text`` (cleaned) broken into the lines it occupies at ``width``: anywhere between two
    characters, except before a character that may not begin a line (the character before it
    then moves down with it, so that no line is wider than ``width``)."""
    lines: list[str] = []
    widths: dict[str, float] = {}
    for source_line in text.split("\n"):
        line: list[str] = []
        used = 0.0
        for ch in source_line:
            w = widths.get(ch)
            if w is None:
                w = widths[ch] = pdfmetrics.stringWidth(ch, style.fontName, style.fontSize)
            if line and used + w > width:
                carried: list[str] = []
                if ch in _NO_LINE_START and len(line) > 1:
                    carried = [line.pop()]
                lines.append("".join(line))
                line, used = carried, sum(widths[c] for c in carried)
            line.append(ch)
            used += w
        lines.append("".join(line))
    return lines


def text_blocks(text: str, style: str, width: float) -> Iterator[Paragraph]:
    """Paragraphs of at most :data:`LINES_PER_BLOCK` lines each, together printing ``text``."""
    lines = wrap_lines(clean(text), styles()[style], width)
    # The lines are final: reportlab only stacks them (its own CJK line breaking would do the
    # work again, at about a second per 50,000 characters).
    stacked = ParagraphStyle(f"{style}-lines", parent=styles()[style], wordWrap=None)
    for start in range(0, len(lines), LINES_PER_BLOCK):
        block = "\n".join(lines[start : start + LINES_PER_BLOCK])
        yield Paragraph(_markup(block), stacked)


def field_table(
    rows: Sequence[tuple[str, str | Flowable | None]], label_width: float = 38 * mm
) -> Table:
    """A two-column form: label on the left, value (text or a flowable) on the right.

    A long value continues over several rows without a rule between them, so the table can
    break across pages inside it."""
    value_width = A4[0] - 40 * mm - label_width
    data: list[list[Any]] = []
    style: list[Any] = [
        # A table sets its cells' font even for flowable cells (Helvetica unless told).
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("BOX", (0, 0), (-1, -1), 0.5, colors.grey),
        ("LINEAFTER", (0, 0), (0, -1), 0.5, colors.grey),
        ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.93, 0.93, 0.93)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    for label, value in rows:
        if isinstance(value, Flowable):
            blocks: list[Any] = [value]
        else:
            blocks = list(text_blocks(value or "", "body", value_width - 2 * CELL_PADDING))
        first = len(data)
        for n, block in enumerate(blocks):
            data.append([text_paragraph(label, "label") if n == 0 else "", block])
        last = len(data) - 1
        if first > 0:
            style.append(("LINEABOVE", (0, first), (-1, first), 0.5, colors.grey))
        if last > first:
            # Continuation rows sit flush: the value reads as one text.
            style.append(("BOTTOMPADDING", (0, first), (-1, last - 1), 0))
            style.append(("TOPPADDING", (0, first + 1), (-1, last), 0))
    table = Table(data, colWidths=[label_width, value_width], longTableOptimize=1)
    table.setStyle(TableStyle(style))
    return table


def render(flowables: list[Any], *, title: str, footer: str) -> bytes:
    """Lay out ``flowables`` on A4 pages with a footer and page numbers; returns the PDF bytes."""
    _font()
    buffer = BytesIO()

    def _footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
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
        # Otherwise every page names Helvetica, a font that is not embedded.
        initialFontName=FONT,
    )
    doc.build(flowables, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()
