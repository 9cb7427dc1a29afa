"""Log in, filter the queue, decide — and the decision form without its CSRF token is refused."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Decision
from tests.api.factories import make_clinic, make_review
from tests.browser.conftest import LogIn, watch_of


def test_log_in_filter_the_queue_and_decide(page: Page, log_in: LogIn, session: Session) -> None:
    aoba = make_clinic(session, "あおば医院")
    minato = make_clinic(session, "みなと歯科")
    rude = make_review(
        session, aoba.listings[0], text="受付の女はブスで最悪", probability=0.9, category="insult"
    )
    make_review(session, minato.listings[0], text="院長を殺す", probability=0.97, category="threat")
    email = log_in("reviewer")

    page.goto("/")
    expect(page.locator("article")).to_have_count(2)
    page.get_by_label("医療機関").select_option(label="あおば医院")
    page.get_by_label("判断").select_option(label="未判断")
    page.get_by_role("button", name="絞り込む").click()
    assert f"clinic_id={aoba.id}" in page.url and "decision=undecided" in page.url
    cards = page.locator("article")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("受付の女はブスで最悪")
    expect(page.get_by_label("医療機関")).to_have_value(str(aoba.id))

    cards.get_by_role("link", name="詳細").click()
    page.wait_for_url(f"**/reviews/{rude.id}")
    page.get_by_label("有害", exact=True).check()
    page.get_by_label("分類（「有害」のときに選択").select_option("insult")
    page.get_by_label("メモ").fill("容姿への侮辱。事実の摘示なし。")
    page.get_by_role("button", name="判断を記録する").click()

    expect(page.get_by_role("status")).to_have_text("判断を記録しました。")
    expect(page.locator("#decision")).to_contain_text("現在の判断: 有害（侮辱）")
    expect(page.locator("#decision")).to_contain_text(email)
    (decision,) = session.scalars(select(Decision).where(Decision.review_id == rude.id)).all()
    assert (decision.decision, decision.category, decision.note) == (
        "harmful",
        "insult",
        "容姿への侮辱。事実の摘示なし。",
    )

    # The decided review leaves the "undecided" view of the queue and shows under "harmful".
    page.goto(f"/?clinic_id={aoba.id}&decision=undecided")
    expect(page.locator("article")).to_have_count(0)
    page.goto(f"/?clinic_id={aoba.id}&decision=harmful")
    expect(page.locator("article")).to_have_count(1)
    assert watch_of(page).page_errors == [] and watch_of(page).dialogs == []


def test_decision_form_without_its_csrf_token_is_refused(
    page: Page, log_in: LogIn, session: Session
) -> None:
    clinic = make_clinic(session)
    review = make_review(session, clinic.listings[0], text="ヤブ医者", probability=0.8)
    log_in("reviewer")
    page.goto(f"/reviews/{review.id}")
    # What a forged or stale form amounts to: the same fields, no token.
    page.locator("#decision input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("正当な批判", exact=True).check()
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="判断を記録する").click()
    response = navigation.value
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("不正な送信です")
    assert session.scalars(select(Decision)).all() == []
