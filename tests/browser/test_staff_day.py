"""The staff's day in Chromium: from a flagged post to a sent request in a few clicks, in
Japanese, on a desktop and on a phone (issue 13).

Set ``KUCHIKOMI_TEST_SHOTS=/some/dir`` to keep screenshots of the pages at 1280 and 375 px.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docx
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.services.cases import today_jst
from models import AuditEntry, Burst, BurstReview, Clinic, Decision, Review
from models.cases import TakedownCase
from tests.api.casework import case_of, decide, harmful_review
from tests.api.factories import make_clinic, make_review
from tests.browser.conftest import LogIn, watch_of

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 800}


def shoot(page: Page, name: str) -> None:
    """Screenshots at desktop and phone width, when asked for (see the module docstring)."""
    target = os.environ.get("KUCHIKOMI_TEST_SHOTS")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("1280", DESKTOP), ("375", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=f"{target}/{name}-{label}.png", full_page=True)
    if size:
        page.set_viewport_size(size)


def in_first_screen(locator: Locator, page: Page) -> bool:
    box = locator.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]


def make_burst(session: Session, clinic: Clinic, reviews: list[Review], kind: str) -> Burst:
    start = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    burst = Burst(
        clinic_id=clinic.id,
        kind=kind,
        start=start,
        end=start + timedelta(days=1),
        observed=float(len(reviews)),
        expected=0.5,
        score=5.0,
        harmful_share=1.0,
        alarm_at=start + timedelta(days=1),
        details={},
    )
    burst.members = [BurstReview(review_id=r.id) for r in reviews]
    session.add(burst)
    session.commit()
    return burst


# --- 1. a non-harmful decision with the category still pre-filled ------------------------------


def test_criticism_is_recorded_with_the_category_still_prefilled(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session)
    review = make_review(
        session,
        clinic.listings[0],
        text="受付の態度が悪く、説明もなかった。",
        probability=0.7,
        category="insult",
    )
    log_in("reviewer")
    page.goto(f"/reviews/{review.id}")
    category = page.get_by_label("分類（「有害」のときに選択")
    expect(category).to_have_value("insult")  # the classifier's guess, left as it is

    page.get_by_label("正当な批判", exact=True).check()
    page.get_by_role("button", name="判断を記録する").click()

    expect(page.get_by_role("status")).to_have_text("判断を記録しました。")
    (decision,) = session.scalars(select(Decision).where(Decision.review_id == review.id)).all()
    assert (decision.decision, decision.category) == ("criticism", None)
    assert watch_of(page).page_errors == []


def test_a_refused_decision_shows_its_reason_at_the_form_with_the_focus_there(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session)
    review = make_review(session, clinic.listings[0], text="院長は最低", probability=0.8)
    log_in("reviewer")
    page.set_viewport_size(DESKTOP)
    page.goto(f"/reviews/{review.id}")

    page.get_by_label("有害", exact=True).check()
    page.get_by_label("分類（「有害」のときに選択").select_option("")
    page.get_by_role("button", name="判断を記録する").click()

    error = page.locator("#decision-error")
    expect(error).to_contain_text("分類（名誉毀損・侮辱など）を選んで")
    expect(error).to_be_focused()
    assert in_first_screen(error, page)  # not below the fold
    assert session.scalars(select(Decision)).all() == []


# --- 4 and 3: the flow queue → decision → draft → evidence, and export of what is on screen ----


def test_flow_from_queue_to_draft_and_evidence_in_six_clicks(
    page: Page, log_in: LogIn, session: Session, tmp_path: Path
) -> None:
    """Counts the clicks (before this change: 8, and two long scrolls)."""
    review = harmful_review(session, confirmed=False)
    log_in("reviewer")
    page.set_viewport_size(DESKTOP)
    page.goto("/")
    clicks = 0

    def click(locator: Locator) -> None:
        nonlocal clicks
        clicks += 1
        locator.click()

    click(page.locator("article").get_by_role("link", name="詳細"))
    click(page.get_by_label("有害", exact=True))  # the category comes pre-filled
    click(page.get_by_role("button", name="判断を記録する"))
    shoot(page, "review-decided")

    # The next step is at the top of the page, in the first screen.
    to_draft = page.get_by_role("link", name="削除依頼の下書きへ")
    assert in_first_screen(to_draft, page)
    assert in_first_screen(page.get_by_role("link", name="証拠一式（zip）"), page)
    click(to_draft)
    page.wait_for_url(f"**/reviews/{review.id}/takedown")

    reason = page.get_by_label("権利が侵害されたとする理由（被害の状況など）")
    reason.fill("当院が不正請求をしている事実はありません。")  # typed, not saved
    with page.expect_download() as pdf_info:
        click(page.get_by_role("button", name="保存して PDF"))
    assert pdf_info.value.suggested_filename == f"takedown-draft-review-{review.id}.pdf"
    pdf = tmp_path / "draft.pdf"
    pdf_info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    case = case_of(session, review.id)
    assert case is not None and case.draft["reason"] == "当院が不正請求をしている事実はありません。"

    with page.expect_download() as evidence_info:
        click(page.get_by_role("link", name="証拠一式をダウンロード（zip）"))
    assert evidence_info.value.suggested_filename.startswith(f"evidence-review-{review.id}-")

    assert clicks == 6
    print(f"queue → decision → draft → evidence: {clicks} clicks")
    assert watch_of(page).page_errors == [] and watch_of(page).dialogs == []


def test_export_buttons_save_what_is_on_screen_first(
    page: Page, log_in: LogIn, session: Session, tmp_path: Path
) -> None:
    review = harmful_review(session)
    log_in("reviewer")
    page.goto(f"/reviews/{review.id}/takedown")
    reason = "投稿は虚偽です。\n予約の取消しが続いています。<b>太字</b>"
    page.get_by_label("権利が侵害されたとする理由（被害の状況など）").fill(reason)
    page.get_by_label("氏名（法人の場合は名称・代表者名）").fill("医療法人さくら会")

    with page.expect_download() as json_info:
        page.get_by_role("button", name="保存して JSON").click()
    path = tmp_path / "draft.json"
    json_info.value.save_as(path)
    draft = json.loads(path.read_text("utf-8"))
    assert draft["fields"]["reason"] == reason
    assert draft["fields"]["requester_name"] == "医療法人さくら会"

    # The page stays, with what was typed; a second edit goes into the Word file too.
    page.get_by_label("氏名（法人の場合は名称・代表者名）").fill("医療法人さくら会 理事長 山田太郎")
    with page.expect_download() as docx_info:
        page.get_by_role("button", name="保存して Word（.docx）").click()
    word = tmp_path / "draft.docx"
    docx_info.value.save_as(word)
    document = docx.Document(str(word))
    text = "\n".join(
        [p.text for p in document.paragraphs]
        + [c.text for t in document.tables for row in t.rows for c in row.cells]
    )
    assert "医療法人さくら会 理事長 山田太郎" in text and "投稿は虚偽です。" in text
    assert page.locator("main b").count() == 0
    assert watch_of(page).page_errors == []


# --- 2. the takedown page: draft first, no default status, 送付済み only when it is true -------


def test_takedown_page_puts_the_draft_first_and_refuses_a_false_sent_record(
    page: Page, log_in: LogIn, session: Session
) -> None:
    review = harmful_review(session, confirmed=False)
    log_in("reviewer")
    page.set_viewport_size(DESKTOP)
    page.goto(f"/reviews/{review.id}/takedown")
    shoot(page, "takedown-new")

    draft_box = page.locator("#draft").bounding_box()
    case_box = page.locator("#case").bounding_box()
    assert draft_box is not None and case_box is not None and draft_box["y"] < case_box["y"]
    expect(page.get_by_role("link", name="証拠一式をダウンロード（zip）")).to_be_visible()

    status = page.get_by_label("次の状態")
    expect(status).to_have_value("")  # nothing chosen for the user
    sent = status.locator("option[value=sent]")
    expect(sent).to_be_disabled()
    notes = page.locator("#case .notice")
    expect(notes).to_contain_text("「有害」と判断していません")
    expect(notes).to_contain_text("下書きがまだ保存されていません")

    # A form sent anyway (an old tab, a crafted request) is refused at the case form.
    sent.evaluate("option => option.disabled = false")
    status.select_option("sent")
    page.get_by_role("button", name="記録する").click()
    error = page.locator("#case .form-error")
    expect(error).to_contain_text("まだ「送付済み」にできません")
    expect(error).to_be_focused()
    assert case_of(session, review.id) is None

    # Judged harmful and the draft saved: now it can be recorded.
    decide(session, review, "harmful", "defamation")
    page.goto(f"/reviews/{review.id}/takedown")
    page.get_by_role("button", name="下書きを保存").click()
    expect(page.locator("#draft").get_by_role("status")).to_have_text("下書きを保存しました。")
    expect(page.locator("#case .notice")).to_have_count(0)
    page.get_by_label("次の状態").select_option("sent")
    page.get_by_label("送付先（送付する場合）").select_option("platform_form")
    page.get_by_role("button", name="記録する").click()
    expect(page.locator("#case").get_by_role("status")).to_have_text("対応状況を記録しました。")
    case = case_of(session, review.id)
    assert case is not None and case.status == "sent" and case.sent_on == today_jst()
    shoot(page, "takedown-sent")


def test_a_review_judged_criticism_cannot_be_marked_sent(
    page: Page, log_in: LogIn, session: Session
) -> None:
    review = harmful_review(session, confirmed=False)
    decide(session, review, "criticism")
    log_in("reviewer")
    page.goto(f"/reviews/{review.id}/takedown")
    page.get_by_role("button", name="下書きを保存").click()
    expect(page.locator("#case .notice")).to_contain_text("「有害」と判断していません")
    expect(page.get_by_label("次の状態").locator("option[value=sent]")).to_be_disabled()
    case = session.scalars(select(TakedownCase).where(TakedownCase.review_id == review.id)).one()
    assert case.status == "draft"


# --- 5. the queue: decided reviews hidden; a cluster decided in one action ---------------------


def test_queue_hides_decided_reviews_and_decides_a_cluster_at_once(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session, "さくら内科クリニック")
    copies = [
        make_review(
            session,
            clinic.listings[0],
            text=f"院長は患者を食い物にする詐欺師。{n}",
            probability=0.9,
            category="defamation",
        )
        for n in range(3)
    ]
    decided = make_review(session, clinic.listings[0], text="ヤブ医者", probability=0.8)
    decide(session, decided, "criticism")
    burst = make_burst(session, clinic, copies, "duplicate")
    email = log_in("reviewer")
    page.set_viewport_size(DESKTOP)

    page.goto("/")
    expect(page.locator("article")).to_have_count(3)  # the decided one is hidden
    expect(page.locator("main")).to_contain_text("判断済みの口コミは表示していません")
    shoot(page, "queue")
    page.get_by_label("判断").select_option("all")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("article")).to_have_count(4)

    page.goto("/")
    page.locator("article").first.get_by_role(
        "link", name="よく似た文面の投稿（3件）をまとめて判断"
    ).click()
    page.wait_for_url(f"**/bursts/{burst.id}")
    expect(page.locator("article")).to_have_count(3)
    shoot(page, "burst")
    page.get_by_label("有害", exact=True).check()
    page.get_by_label("分類（「有害」のときに選択）").select_option("defamation")
    page.get_by_label("メモ（").fill("同一文面の連投")
    page.get_by_role("button", name="3件すべてに記録する").click()
    expect(page.get_by_role("status")).to_have_text("3件の口コミに判断を記録しました。")

    decisions = session.scalars(
        select(Decision).where(Decision.review_id.in_([r.id for r in copies]))
    ).all()
    assert sorted(d.review_id for d in decisions) == sorted(r.id for r in copies)
    assert {(d.decision, d.category, d.note) for d in decisions} == {
        ("harmful", "defamation", "同一文面の連投")
    }
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "decision.create", AuditEntry.actor == email)
    ).all()
    assert sorted(int(e.object_id) for e in audited) == sorted(r.id for r in copies)
    page.goto("/")
    expect(page.locator("article")).to_have_count(0)  # all decided now


# --- 6. deadlines: a wider window ---------------------------------------------------------------


def test_deadlines_window_can_be_widened(page: Page, log_in: LogIn, session: Session) -> None:
    posted = datetime.combine(today_jst() - timedelta(days=30), datetime.min.time(), UTC)
    review = harmful_review(session, posted_at=posted)  # disclosure date in about 60 days
    log_in("reviewer")

    page.goto("/deadlines")
    expect(page.locator("table.deadlines")).to_have_count(0)
    page.get_by_label("表示する期間").select_option("90")
    page.get_by_role("button", name="表示").click()
    assert "within_days=90" in page.url
    expect(page.locator("table.deadlines tbody tr")).to_have_count(1)
    expect(page.locator("table.deadlines")).to_contain_text("発信者情報開示の目安")
    expect(page.get_by_label("表示する期間")).to_have_value("90")
    expect(page.locator(f"table.deadlines a[href='/reviews/{review.id}']")).to_have_count(1)
    shoot(page, "deadlines")


# --- 7. the audit page in Japanese ----------------------------------------------------------------


def test_audit_page_is_a_japanese_table_with_links(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session, "みなと歯科")
    review = make_review(session, clinic.listings[0], text="院長は最低", probability=0.8)
    email = log_in("admin")
    page.goto(f"/reviews/{review.id}")
    page.get_by_label("有害", exact=True).check()
    page.get_by_label("分類（「有害」のときに選択").select_option("insult")
    page.get_by_role("button", name="判断を記録する").click()

    page.goto("/audit")
    row = page.locator("table.audit tbody tr").first
    expect(row.locator("td.what")).to_have_text("判断を記録")
    expect(row.locator("td.who")).to_have_text(email)
    expect(row.locator("td.changes")).to_contain_text("判断: — → 有害")
    expect(row.locator("td.changes")).to_contain_text("分類: — → 侮辱")
    expect(row.get_by_role("link", name=f"口コミ #{review.id}")).to_have_attribute(
        "href", f"/reviews/{review.id}"
    )
    expect(row.get_by_role("link", name="みなと歯科")).to_have_attribute(
        "href", f"/clinics/{clinic.id}"
    )
    when = row.locator("td.when").inner_text()
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", when), when
    main = page.locator("main").inner_text()
    assert "decision.create" not in main and "{" not in main
    shoot(page, "audit")


# --- 8. labels, not codes -------------------------------------------------------------------------


def test_site_names_are_shown_instead_of_profile_codes(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session)  # its listing is read by the schema_org profile
    make_review(session, clinic.listings[0], text="院長は最低", probability=0.8)
    log_in("reviewer")

    page.goto("/sources")
    expect(page.locator("table.sources td.site")).to_have_text("構造化データ")
    assert "schema_org" not in page.locator("main").inner_text()
    shoot(page, "sources")
    page.goto("/")
    expect(page.get_by_label("掲載サイト").locator("option[value=schema_org]")).to_have_text(
        "構造化データ"
    )


# --- 9. login and the menu ------------------------------------------------------------------------


def test_login_page_names_whom_to_ask_and_shows_no_menu(page: Page, log_in: LogIn) -> None:
    page.goto("/login")
    expect(page.locator("nav[aria-label='メインメニュー']")).to_have_count(0)
    main = page.locator("main")
    expect(main).to_contain_text("管理者")
    assert "kuchikomi" not in main.inner_text()
    assert page.locator("main code").count() == 0
    shoot(page, "login")

    log_in("reviewer")
    nav = page.locator("nav[aria-label='メインメニュー']")
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="API")).to_have_count(0)


def test_api_menu_item_is_for_admins_and_opens_a_new_tab(page: Page, log_in: LogIn) -> None:
    log_in("admin")
    api = page.locator("nav[aria-label='メインメニュー']").get_by_role("link", name="API")
    expect(api).to_have_attribute("target", "_blank")
    assert "noopener" in (api.get_attribute("rel") or "").split()
    with page.context.expect_page() as new_tab:
        api.click()
    new_tab.value.wait_for_load_state()
    assert new_tab.value.url.endswith("/docs")
    assert page.url.endswith("/")  # the staff page stays where it was


# --- 10. the dashboard's weekly chart -------------------------------------------------------------


def test_dashboard_counts_a_first_crawl_of_old_reviews_in_their_own_weeks(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session)
    for n in range(5):  # years-old reviews, found by today's first crawl
        review = make_review(
            session,
            clinic.listings[0],
            text=f"古い口コミ{n}",
            probability=0.1,
            posted_at=datetime(2023, 5, 1 + n, tzinfo=UTC),
        )
        review.first_seen_at = datetime.now(UTC) - timedelta(minutes=5)
    session.commit()
    log_in("reviewer")

    page.goto("/dashboard")
    expect(page.locator("#trend-heading")).to_contain_text("投稿日")
    this_week = page.locator("table.trend-table tbody tr").last
    expect(this_week.locator("td.num").first).to_have_text("0")
    shoot(page, "dashboard")


# --- 11. the clinic chart's burst labels ----------------------------------------------------------


def test_clinic_chart_burst_labels_never_overlap(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session, "さくら内科クリニック")
    today = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    reviews = [
        make_review(session, clinic.listings[0], text=f"口コミ{n}", posted_at=today)
        for n in range(4)
    ]
    # Four bursts on neighbouring days: their labels would sit on top of each other.
    for offset, kind in enumerate(("volume", "duplicate", "author", "rating_drop")):
        burst = make_burst(session, clinic, reviews, kind)
        burst.start = today - timedelta(days=10 + offset)
        burst.end = burst.start + timedelta(days=1)
    session.commit()
    log_in("reviewer")

    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.goto(f"/clinics/{clinic.id}")
        labels = page.locator("svg.timeline-chart text.burst-marker")
        expect(labels).to_have_count(4)
        boxes = [labels.nth(i).bounding_box() for i in range(4)]
        for i, a in enumerate(boxes):
            assert a is not None
            for b in boxes[i + 1 :]:
                assert b is not None
                apart = (
                    a["x"] + a["width"] <= b["x"]
                    or b["x"] + b["width"] <= a["x"]
                    or a["y"] + a["height"] <= b["y"]
                    or b["y"] + b["height"] <= a["y"]
                )
                assert apart, (a, b)
    shoot(page, "clinic")


# --- 12. the menu on a phone ----------------------------------------------------------------------


def test_menu_fits_a_375_px_phone_without_breaking_words(page: Page, log_in: LogIn) -> None:
    log_in("admin")  # the longest menu
    page.set_viewport_size(PHONE)
    for path in ("/", "/deadlines", "/audit"):
        page.goto(path)
        links = page.locator("nav[aria-label='メインメニュー'] a")
        expect(links).to_have_count(7)
        line = page.evaluate(
            "() => parseFloat(getComputedStyle("
            "document.querySelector('nav[aria-label=メインメニュー] a')).lineHeight)"
        )
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box is not None
            # One line each (期限 never becomes 期 / 限), inside the screen.
            assert box["height"] < 1.5 * line + 6, (links.nth(i).inner_text(), box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "audit-phone-menu")
