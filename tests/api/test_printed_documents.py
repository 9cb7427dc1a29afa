"""The takedown PDF and the evidence report print anywhere (issue 13, item 13) and print any
review in full (issue 12, item 5): a Japanese font embedded as a subset, nothing drawn without a
glyph, and a review up to 100,000 characters split across pages through the real routes."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFont
from sqlalchemy.orm import Session

from kuchikomi.services.evidence import REPORT_NAME
from kuchikomi.services.japanese_pdf import font_path
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic, make_review
from tests.evidence.warcs import Page, archive_pages, sight, without_chromium

END = "【本文の終わり】"


@pytest.fixture(autouse=True)
def _no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    without_chromium(monkeypatch)


def _long_text(length: int) -> str:
    unit = "院長は診察中に不正請求の話ばかりしていたと聞いた。Staff said: ok. "
    body = (unit * (length // len(unit) + 1))[: length - len(END)]
    return body + END


def _review(session: Session, data_dir: Path, text: str, author: str | None = "通りすがり"):
    listing = make_clinic(session).listings[0]
    review = make_review(
        session, listing, text=text, author=author, probability=0.9, category="defamation"
    )
    records = archive_pages(
        session,
        data_dir,
        [Page(url=listing.url, body=f"<p>{text}</p>".encode())],
        listing_id=listing.id,
    )
    sight(session, review, *records)
    return review


def _report(bundle: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        return zf.read(REPORT_NAME)


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("length", [2_000, 100_000])
def test_long_review_prints_in_full_across_pages(
    session: Session, env: Path, login_as: LoginAs, length: int
) -> None:
    review = _review(session, env, _long_text(length))
    client = login_as("reviewer")
    draft = client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=pdf")
    bundle = client.get(f"/api/v1/reviews/{review.id}/evidence")
    assert draft.status_code == 200, draft.text[:300]
    assert bundle.status_code == 200, bundle.text[:300]
    for pdf in (draft.content, _report(bundle.content)):
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        # 100,000 characters fill some 40 A4 pages; 2,000 push the form onto a second one.
        assert pages >= (30 if length == 100_000 else 2)
        # Without line breaks and the spaces pypdf puts at some line starts.
        flat = "".join(_text(pdf).split())
        assert END in flat
        assert "院長は診察中に不正請求の話ばかり" in flat


def _fonts(pdf: bytes) -> list[dict]:
    """Every font dictionary on every page, with the descendant fonts of composite ones."""
    fonts = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page["/Resources"].get_object()
        for ref in resources.get("/Font", {}).values():
            font = ref.get_object()
            fonts.append(font)
            for descendant in font.get("/DescendantFonts", []):
                fonts.append(descendant.get_object())
    return fonts


def _documents(session: Session, env: Path, login_as: LoginAs) -> dict[str, bytes]:
    # No author, no requester, emoji and odd spaces: the cells that used to print as boxes.
    review = _review(session, env, "最悪の医院😡\u00a0二度と行かない\u3000\t。", author=None)
    client = login_as("reviewer")
    draft = client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=pdf")
    bundle = client.get(f"/api/v1/reviews/{review.id}/evidence")
    assert draft.status_code == bundle.status_code == 200
    return {"takedown": draft.content, "report": _report(bundle.content)}


def test_every_font_is_embedded_and_every_character_has_a_glyph(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    font = TTFont("check", str(font_path()))
    for name, pdf in _documents(session, env, login_as).items():
        fonts = _fonts(pdf)
        assert fonts, name
        for entry in fonts:
            base = str(entry.get("/BaseFont"))
            assert "Heisei" not in base and "Helvetica" not in base, (name, base)
            if entry.get("/Subtype") == "/Type0":
                continue  # a composite font: its descendant carries the font file
            descriptor = entry["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, (name, base)
            # A subset: the name carries the six-letter subset tag (ABCDEF+IPAexGothic).
            assert base.split("+")[-1] == "IPAexGothic" and "+" in base, (name, base)
        text = _text(pdf)
        assert "\u2612" not in text and "\u00a0" not in text, name
        missing = {ch for ch in text if not ch.isspace() and ord(ch) not in font.face.charToGlyph}
        assert not missing, (name, missing)
        if name == "report":
            assert "〔U+1F621〕" in text.replace("\n", "")


@pytest.mark.skipif(
    shutil.which("pdffonts") is None, reason="pdffonts: apt-get install poppler-utils"
)
def test_pdffonts_reports_every_font_embedded(
    session: Session, env: Path, login_as: LoginAs, tmp_path: Path
) -> None:
    for name, pdf in _documents(session, env, login_as).items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
        rows = out.stdout.splitlines()[2:]
        assert rows, name
        for row in rows:
            # name, type (two words), encoding, then emb sub uni object id.
            emb, sub = row.split()[-5:-3]
            assert (emb, sub) == ("yes", "yes"), (name, row)
