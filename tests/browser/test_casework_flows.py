"""Staff flows in the browser: download an evidence bundle and verify it; edit a takedown draft
and export it (docx, JSON) with the edits in it."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import docx
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from tests.api.casework import harmful_review
from tests.api.factories import make_clinic
from tests.browser.conftest import LogIn, watch_of
from tests.evidence.warcs import Page as ArchivedPage
from tests.evidence.warcs import archive_pages, sight


def test_clinic_user_downloads_an_evidence_bundle_that_verifies(
    page: Page, log_in: LogIn, session: Session, env: Path, tmp_path: Path
) -> None:
    clinic = make_clinic(session, "さくら内科クリニック")
    listing = clinic.listings[0]
    review = harmful_review(session, clinic, confirmed=False)
    archived = [
        ArchivedPage(
            url=listing.url,
            body=f"<html><body><p>{review.text}</p></body></html>".encode(),
            fetched_at=datetime(2025, 3, day, 2, 0, tzinfo=UTC),
        )
        for day in (5, 6)
    ]
    sight(session, review, *archive_pages(session, env, archived, listing_id=listing.id))
    log_in("clinic", clinic_ids=(clinic.id,))

    page.goto(f"/reviews/{review.id}")
    # The server renders both archived pages in its own Chromium first: seconds, not a moment.
    with page.expect_download(timeout=90_000) as download_info:
        page.get_by_role("link", name="証拠一式をダウンロード").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"evidence-review-{review.id}-")
    bundle = tmp_path / download.suggested_filename
    download.save_as(bundle)

    names = zipfile.ZipFile(bundle).namelist()
    assert "manifest.json" in names and any(n.endswith(".pdf") for n in names)
    assert {"manifest.json.sig", "capture-1.png", "capture-2.pdf"} <= set(names)
    result = CliRunner().invoke(app, ["evidence", "verify", str(bundle)])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-1].endswith("hashes match the manifest")
    assert watch_of(page).page_errors == []


def test_reviewer_edits_a_takedown_draft_and_exports_it(
    page: Page, log_in: LogIn, session: Session, tmp_path: Path
) -> None:
    review = harmful_review(session)
    log_in("reviewer")
    reason = (
        "当院が不正請求をしているという事実はなく、投稿は虚偽です。\n"
        "投稿後、予約の取消しが続いています。<script>alert(1)</script>"
    )

    page.goto(f"/reviews/{review.id}/takedown")
    page.get_by_label("権利が侵害されたとする理由（被害の状況など）").fill(reason)
    page.get_by_label("氏名（法人の場合は名称・代表者名）").fill("医療法人さくら会 理事長 山田太郎")
    page.get_by_role("button", name="下書きを保存").click()

    expect(page.get_by_role("status")).to_have_text("下書きを保存しました。")
    # The saved draft comes back in the form, text as typed (not markup).
    expect(page.get_by_label("権利が侵害されたとする理由（被害の状況など）")).to_have_value(reason)
    assert page.locator("main script").count() == 0

    with page.expect_download() as docx_info:
        page.get_by_role("button", name="保存して Word（.docx）").click()
    path = tmp_path / "draft.docx"
    docx_info.value.save_as(path)
    document = docx.Document(str(path))
    text = "\n".join(
        [p.text for p in document.paragraphs]
        + [c.text for t in document.tables for row in t.rows for c in row.cells]
    )
    assert "当院が不正請求をしているという事実はなく" in text
    assert "医療法人さくら会 理事長 山田太郎" in text

    exported = page.evaluate(
        "async (url) => await (await fetch(url)).text()",
        f"/api/v1/reviews/{review.id}/takedown-draft?format=json",
    )
    draft = json.loads(exported)
    assert draft["fields"]["reason"] == reason
    assert draft["fields"]["requester_name"] == "医療法人さくら会 理事長 山田太郎"
    assert sorted(draft["edited"]) == ["reason", "requester_name"]
    assert watch_of(page).dialogs == [] and watch_of(page).page_errors == []
