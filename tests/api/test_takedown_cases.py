"""Takedown cases: draft → sent → removed / refused / no_answer, with dates, audited; a removal is
confirmed by a later complete crawl that no longer shows the review."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.extract import normalize_text
from kuchikomi.demo.portal import DemoPortal, listing_urls
from kuchikomi.services.cases import CRAWL_ACTOR, today_jst
from kuchikomi.services.pipeline import run_pipeline
from models import Review
from tests.api.casework import case_audit, case_of, decide, harmful_review
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic
from tests.crawler.conftest import demo_portal, portal_url, register  # noqa: F401


def _case_url(review_id: int) -> str:
    return f"/api/v1/reviews/{review_id}/case"


def test_a_case_moves_draft_sent_answered_with_dates_and_every_step_audited(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    client = login_as("reviewer")
    review = harmful_review(session)
    today = today_jst()
    sent_on = today - timedelta(days=10)

    sent = client.post(
        _case_url(review.id),
        json={"status": "sent", "on": sent_on.isoformat(), "via": "letter", "note": "簡易書留"},
    )
    assert sent.status_code == 200, sent.text
    case = sent.json()["case"]
    assert case["status"] == "sent" and case["sent_on"] == sent_on.isoformat()
    assert case["sent_via"] == "letter" and case["note"] == "簡易書留"

    # A request that is out is the record of what was asked: not edited.
    edit = client.put(f"/api/v1/reviews/{review.id}/takedown-draft", json={"rights": "x"})
    assert edit.status_code == 409

    silent = client.post(_case_url(review.id), json={"status": "no_answer"})
    assert silent.status_code == 200
    assert silent.json()["case"]["resolved_on"] == today.isoformat()
    # No answer: edit and send again through another route, then the platform refuses.
    assert (
        client.put(f"/api/v1/reviews/{review.id}/takedown-draft", json={"rights": "名誉権、信用"})
    ).status_code == 200
    again = client.post(_case_url(review.id), json={"status": "sent", "via": "moj"})
    assert again.json()["case"]["sent_via"] == "moj"
    assert again.json()["case"]["resolved_on"] is None
    refused = client.post(_case_url(review.id), json={"status": "refused"})
    assert refused.json()["case"]["status"] == "refused"

    entries = case_audit(session)
    assert [e.action for e in entries] == [
        "case.sent",
        "case.no_answer",
        "case.draft",
        "case.sent",
        "case.refused",
    ]
    assert all(e.actor == client.email for e in entries)
    assert entries[0].before is None and entries[0].after["status"] == "sent"
    assert entries[1].before["status"] == "sent" and entries[1].after["status"] == "no_answer"
    assert entries[2].after["draft"] == {"rights": "名誉権、信用"}


def test_bad_moves_and_bad_input_are_refused_with_nothing_written(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    client = login_as("admin")
    review = harmful_review(session)
    url = _case_url(review.id)
    tomorrow = today_jst() + timedelta(days=1)

    assert client.post(url, json={"status": "removed"}).status_code == 409  # never sent
    assert client.post(url, json={"status": "draft"}).status_code == 422
    assert client.post(url, json={"status": "deleted"}).status_code == 422
    assert client.post(url, json={"status": "sent", "on": tomorrow.isoformat()}).status_code == 422
    assert client.post(url, json={"status": "sent", "on": "2025-02-30"}).status_code == 422
    assert client.post(url, json={"status": "sent", "via": "fax"}).status_code == 422
    assert client.post(url, json={"status": "sent", "note": "x" * 2001}).status_code == 422
    assert client.post(url, json={"status": "sent", "extra": 1}).status_code == 422
    assert client.post("/api/v1/reviews/999999/case", json={"status": "sent"}).status_code == 404
    assert case_of(session, review.id) is None and case_audit(session) == []

    sent_on = today_jst() - timedelta(days=3)
    assert client.post(url, json={"status": "sent", "on": sent_on.isoformat()}).status_code == 200
    # An answer cannot predate the request; 'via' belongs to sending.
    early = (sent_on - timedelta(days=1)).isoformat()
    assert client.post(url, json={"status": "refused", "on": early}).status_code == 422
    assert client.post(url, json={"status": "refused", "via": "moj"}).status_code == 422
    assert client.post(url, json={"status": "sent"}).status_code == 409
    case = case_of(session, review.id)
    assert case is not None and case.status == "sent" and case.sent_on == sent_on
    assert len(case_audit(session)) == 1


def test_clinic_users_read_cases_but_record_no_steps(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    """Clinic users are read-only (README, accounts; issue 12): 403 for their own clinic's
    review, 404 for another clinic's, by the API and by the page's form."""
    own = harmful_review(session, make_clinic(session, name="自院"))
    other = harmful_review(session, make_clinic(session, name="他院"))
    clinic_user = login_as("clinic", clinic_ids=[own.listing.clinic_id])
    refused = clinic_user.post(_case_url(own.id), json={"status": "sent"})
    assert refused.status_code == 403 and "admins and reviewers" in refused.json()["detail"]
    assert clinic_user.post(_case_url(other.id), json={"status": "sent"}).status_code == 404
    form = {"status": "sent", "on": today_jst().isoformat(), "csrf_token": clinic_user.csrf_token}
    page = clinic_user.post(f"/reviews/{own.id}/takedown/status", data=form)
    assert page.status_code == 403 and "閲覧のみ" in page.text
    assert clinic_user.post(f"/reviews/{other.id}/takedown/status", data=form).status_code == 404
    assert case_of(session, own.id) is None and case_of(session, other.id) is None
    assert case_audit(session) == []
    # The page offers no forms to a clinic user, and says why.
    shown = clinic_user.get(f"/reviews/{own.id}/takedown")
    assert shown.status_code == 200 and "閲覧のみです" in shown.text
    assert f'action="/reviews/{own.id}/takedown' not in shown.text


def test_status_form_needs_the_csrf_token_and_reports_bad_dates(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    client = login_as("reviewer")
    review = harmful_review(session)
    del client.headers["X-CSRF-Token"]
    url = f"/reviews/{review.id}/takedown/status"
    form = {"status": "sent", "on": today_jst().isoformat(), "via": "platform_form"}

    assert client.post(url, data=form, follow_redirects=False).status_code == 403
    assert case_of(session, review.id) is None

    # 送付済み needs a saved draft first (the page says so, and refuses).
    early = client.post(url, data={**form, "csrf_token": client.csrf_token})
    assert early.status_code == 409 and "下書きがまだ保存されていません" in early.text
    assert case_of(session, review.id) is None
    saved = client.post(
        f"/reviews/{review.id}/takedown",
        data={"csrf_token": client.csrf_token},
        follow_redirects=False,
    )
    assert saved.status_code == 303

    future = {**form, "on": (today_jst() + timedelta(days=2)).isoformat()}
    refused = client.post(url, data={**future, "csrf_token": client.csrf_token})
    assert refused.status_code == 422 and "未来の日付" in refused.text
    assert case_of(session, review.id).status == "draft"  # type: ignore[union-attr]

    done = client.post(url, data={**form, "csrf_token": client.csrf_token}, follow_redirects=False)
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "対応状況を記録しました" in page.text and "送付済み（回答待ち）" in page.text
    # Once sent, the page shows the draft read-only (no draft form).
    assert f'action="/reviews/{review.id}/takedown"' not in page.text


# --- removal confirmed by a later complete crawl ------------------------------------------------


def test_removal_is_confirmed_by_a_complete_recrawl_and_undone_if_the_review_returns(
    session: Session,
    model_env: Path,
    demo_portal: DemoPortal,  # noqa: F811
    portal_url: str,  # noqa: F811
    login_as: LoginAs,
) -> None:
    clinic = demo_portal.clinics[0]
    (listing_id,) = register(session, clinic.name, dict(listing_urls(portal_url))[clinic.name])
    assert run_pipeline(listing_ids=[listing_id]).ok

    stored = list(session.scalars(select(Review).where(Review.listing_id == listing_id)))
    by_text = {normalize_text(r.text): r for r in stored}
    target_demo, other_demo = clinic.reviews[1], clinic.reviews[2]
    target, other = (
        by_text[normalize_text(target_demo.text)],
        by_text[normalize_text(other_demo.text)],
    )
    decide(session, target, "harmful", "defamation")
    decide(session, other, "harmful", "insult")

    client = login_as("reviewer")
    for review in (target, other):
        assert client.post(_case_url(review.id), json={"status": "sent"}).status_code == 200

    # The site takes the post down. An incremental crawl stops early: it proves nothing.
    demo_portal.hidden_review_ids.add(target_demo.id)
    result = run_pipeline(listing_ids=[listing_id])
    assert result.ok and result.cases == {"confirmed": [], "reopened": []}
    assert case_of(session, target.id).status == "sent"  # type: ignore[union-attr]

    full = run_pipeline(listing_ids=[listing_id], full=True)
    assert full.cases == {"confirmed": [target.id], "reopened": []}
    case = case_of(session, target.id)
    assert case is not None and case.status == "removed"
    session.refresh(target)
    assert target.removed_at is not None and case.removal_confirmed_at == target.removed_at
    assert case.resolved_on == today_jst()
    assert case_of(session, other.id).status == "sent"  # type: ignore[union-attr]
    confirmed = [e for e in case_audit(session) if e.action == "case.removal_confirmed"]
    assert len(confirmed) == 1 and confirmed[0].actor == CRAWL_ACTOR
    assert confirmed[0].before["status"] == "sent" and confirmed[0].after["status"] == "removed"
    page = client.get(f"/reviews/{target.id}/takedown")
    assert "削除された" in page.text and "巡回で掲載なしを確認" in page.text

    # Back on the site: the removal did not hold, the case waits again.
    demo_portal.hidden_review_ids.clear()
    back = run_pipeline(listing_ids=[listing_id], full=True)
    assert back.cases == {"confirmed": [], "reopened": [target.id]}
    case = case_of(session, target.id)
    assert case is not None and case.status == "sent" and case.removal_confirmed_at is None
    assert case_audit(session)[-1].action == "case.reappeared"
