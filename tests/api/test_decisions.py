"""Staff decisions and the audit log: who may decide, bad input writes nothing, every decision is
audited with before and after, only admins read the log, and decisions feed model training."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuchikomi.services.classification import staff_decision_examples
from models import AuditEntry, Decision, Review
from models.accounts import AppendOnlyError
from tests.api.conftest import LoggedInClient, LoginAs
from tests.api.factories import make_clinic, make_review


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count(Decision.id))) or 0,
        session.scalar(select(func.count(AuditEntry.id))) or 0,
    )


@pytest.fixture
def review(session: Session) -> Review:
    clinic = make_clinic(session, "さくら内科")
    return make_review(
        session, clinic.listings[0], text="院長は横領している", probability=0.9, category="insult"
    )


def test_reviewer_decides_and_each_decision_is_audited_with_before_and_after(
    reviewer_client: LoggedInClient, review: Review, session: Session
) -> None:
    url = f"/api/v1/reviews/{review.id}/decision"
    first = reviewer_client.post(
        url, json={"decision": "harmful", "category": "defamation", "note": "横領の断定"}
    )
    second = reviewer_client.post(url, json={"decision": "unsure", "note": "要再確認"})

    assert first.status_code == 201, first.text
    assert first.json()["decision"] == "harmful"
    assert first.json()["category"] == "defamation"  # corrected from the classifier's "insult"
    assert first.json()["decided_by"] == reviewer_client.email
    assert second.status_code == 201
    detail = reviewer_client.get(f"/api/v1/reviews/{review.id}").json()
    assert detail["decision"] == "unsure"
    assert [d["decision"] for d in detail["decisions"]] == ["harmful", "unsure"]
    listed = reviewer_client.get("/api/v1/reviews", params={"flagged": "true"}).json()
    assert listed["items"][0]["decision"] == "unsure"

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "decision.create").order_by(AuditEntry.id)
    ).all()
    assert len(entries) == 2
    assert all(e.actor == reviewer_client.email for e in entries)
    assert all(e.user_id == reviewer_client.user_id for e in entries)
    assert entries[0].object_type == "review" and entries[0].object_id == str(review.id)
    assert entries[0].before is None
    assert entries[0].after is not None and entries[0].after["decision"] == "harmful"
    assert entries[1].before == entries[0].after
    assert entries[1].after is not None and entries[1].after["note"] == "要再確認"


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "delete"},  # not a decision
        {"decision": "HARMFUL", "category": "insult"},
        {"decision": "harmful"},  # harmful needs its category
        {"decision": "harmful", "category": "spam"},
        {"decision": "criticism", "category": "insult"},  # only harmful takes one
        {"decision": "criticism", "note": "あ" * 2001},  # oversized note
        {"decision": "criticism", "note": None},
        {"decision": "criticism", "extra": 1},
        {},
    ],
)
def test_invalid_decisions_answer_422_and_write_nothing(
    reviewer_client: LoggedInClient, review: Review, session: Session, body: dict[str, object]
) -> None:
    before = _counts(session)
    response = reviewer_client.post(f"/api/v1/reviews/{review.id}/decision", json=body)
    assert response.status_code == 422, response.text
    assert _counts(session) == before


def test_note_of_exactly_the_limit_is_accepted(
    reviewer_client: LoggedInClient, review: Review
) -> None:
    response = reviewer_client.post(
        f"/api/v1/reviews/{review.id}/decision", json={"decision": "criticism", "note": "あ" * 2000}
    )
    assert response.status_code == 201


def test_unknown_review_is_404_and_writes_nothing(
    reviewer_client: LoggedInClient, review: Review, session: Session
) -> None:
    before = _counts(session)
    response = reviewer_client.post(
        f"/api/v1/reviews/{review.id + 1000}/decision", json={"decision": "criticism"}
    )
    assert response.status_code == 404
    assert reviewer_client.get(f"/api/v1/reviews/{review.id + 1000}").status_code == 404
    assert reviewer_client.post("/api/v1/reviews/0/decision", json={}).status_code == 422
    assert _counts(session) == before


def test_clinic_users_do_not_decide_and_do_not_learn_other_clinics_exist(
    login_as: LoginAs, review: Review, session: Session
) -> None:
    own = make_clinic(session, "自院")
    own_review = make_review(session, own.listings[0], probability=0.8, category="threat")
    clinic_client = login_as("clinic", clinic_ids=[own.id])
    before = _counts(session)

    mine = clinic_client.post(
        f"/api/v1/reviews/{own_review.id}/decision", json={"decision": "criticism"}
    )
    other = clinic_client.post(
        f"/api/v1/reviews/{review.id}/decision", json={"decision": "criticism"}
    )
    missing = clinic_client.post(
        f"/api/v1/reviews/{review.id + 1000}/decision", json={"decision": "criticism"}
    )

    assert mine.status_code == 403
    # Another clinic's review answers exactly like one that does not exist.
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"] == f"review {review.id} does not exist"
    assert _counts(session) == before


def test_anonymous_and_csrf_less_decisions_are_refused_and_write_nothing(
    client: TestClient, reviewer_client: LoggedInClient, review: Review, session: Session
) -> None:
    before = _counts(session)
    url = f"/api/v1/reviews/{review.id}/decision"
    assert client.post(url, json={"decision": "criticism"}).status_code == 401
    del reviewer_client.headers["X-CSRF-Token"]
    refused = reviewer_client.post(url, json={"decision": "criticism"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert _counts(session) == before


def _form_token(page: str) -> str:
    match = re.search(
        r'action="/reviews/\d+/decision">\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]*)"',
        page,
    )
    assert match is not None
    return match[1]


def test_decision_form_records_a_decision_and_shows_the_history(
    reviewer_client: LoggedInClient, review: Review, session: Session
) -> None:
    del reviewer_client.headers["X-CSRF-Token"]  # a browser form sends the token as a field
    page = reviewer_client.get(f"/reviews/{review.id}").text
    assert "まだ判断されていません" in page
    token = _form_token(page)

    response = reviewer_client.post(
        f"/reviews/{review.id}/decision",
        data={"csrf_token": token, "decision": "harmful", "category": "defamation", "note": "<b>"},
    )

    assert response.status_code == 200  # after the redirect to the review page
    assert str(response.url).endswith(f"/reviews/{review.id}?saved=true")
    assert "判断を記録しました" in response.text
    assert "現在の判断: <strong>有害</strong>（名誉毀損）" in response.text
    assert "メモ: &lt;b&gt;" in response.text  # the note is escaped like everything else
    assert _counts(session) == (1, 2)  # the decision; the reviewer's creation and the decision


def test_decision_form_refusals_write_nothing(
    reviewer_client: LoggedInClient, login_as: LoginAs, review: Review, session: Session
) -> None:
    del reviewer_client.headers["X-CSRF-Token"]
    token = _form_token(reviewer_client.get(f"/reviews/{review.id}").text)
    url = f"/reviews/{review.id}/decision"

    no_token = reviewer_client.post(url, data={"decision": "criticism"})
    bad_token = reviewer_client.post(url, data={"decision": "criticism", "csrf_token": "x"})
    long_note = reviewer_client.post(
        url, data={"csrf_token": token, "decision": "criticism", "note": "あ" * 2001}
    )
    no_category = reviewer_client.post(url, data={"csrf_token": token, "decision": "harmful"})
    bad_value = reviewer_client.post(url, data={"csrf_token": token, "decision": "remove"})

    assert no_token.status_code == bad_token.status_code == 403
    assert "不正な送信" in no_token.text
    assert long_note.status_code == 422 and "2000文字以内" in long_note.text
    assert (
        no_category.status_code == 422 and "分類（名誉毀損・侮辱など）を選んで" in no_category.text
    )
    assert bad_value.status_code == 422
    assert _counts(session) == (0, 1)  # only the reviewer's creation is audited

    # A clinic user sees its own review but gets no form, and a forged post is refused.
    own = make_clinic(session, "自院")
    own_review = make_review(session, own.listings[0], probability=0.8, category="threat")
    clinic_client = login_as("clinic", clinic_ids=[own.id])
    own_page = clinic_client.get(f"/reviews/{own_review.id}")
    assert own_page.status_code == 200 and "判断を記録する" not in own_page.text
    forged = clinic_client.post(
        f"/reviews/{own_review.id}/decision",
        data={"csrf_token": clinic_client.csrf_token, "decision": "criticism"},
    )
    assert forged.status_code == 403
    other = clinic_client.post(
        url, data={"csrf_token": clinic_client.csrf_token, "decision": "criticism"}
    )
    assert other.status_code == 404
    assert _counts(session) == (0, 2)  # and now the clinic user's creation


def test_only_admins_read_the_audit_log(
    admin_client: LoggedInClient, login_as: LoginAs, review: Review, session: Session
) -> None:
    reviewer = login_as("reviewer")
    reviewer.post(f"/api/v1/reviews/{review.id}/decision", json={"decision": "criticism"})
    clinic_user = login_as("clinic", clinic_ids=[review.listing.clinic_id])

    for refused in (reviewer, clinic_user):
        assert refused.get("/api/v1/audit").status_code == 403
        assert refused.get("/audit").status_code == 403
        assert "操作履歴" not in refused.get("/").text.split("<main")[0]  # no menu link

    body = admin_client.get("/api/v1/audit").json()
    actions = [e["action"] for e in body["items"]]
    # Newest first: the decision, then the three accounts created by the fixtures.
    assert actions == ["user.create", "decision.create", "user.create", "user.create"]
    decision = body["items"][1]
    assert decision["actor"] == reviewer.email
    assert decision["object_id"] == str(review.id)
    assert decision["before"] is None and decision["after"]["decision"] == "criticism"
    assert body["next_cursor"] is None

    page = admin_client.get("/audit")
    # The page is in Japanese: the English action names stay in the API.
    assert page.status_code == 200 and "判断を記録" in page.text
    assert "decision.create" not in page.text
    assert f'href="/reviews/{review.id}"' in page.text


def test_audit_log_pages_by_cursor_and_rejects_bad_cursors(
    admin_client: LoggedInClient, review: Review
) -> None:
    for decision in ("criticism", "unsure", "criticism"):
        admin_client.post(f"/api/v1/reviews/{review.id}/decision", json={"decision": decision})
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2, "object_type": "review"}
        if cursor:
            params["cursor"] = cursor
        body = admin_client.get("/api/v1/audit", params=params).json()
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 and seen == sorted(seen, reverse=True)
    assert admin_client.get("/api/v1/audit", params={"cursor": "abc"}).status_code == 422
    assert admin_client.get("/api/v1/audit", params={"limit": 201}).status_code == 422


def test_audit_entries_cannot_be_changed_or_deleted(
    reviewer_client: LoggedInClient, review: Review, session: Session
) -> None:
    reviewer_client.post(f"/api/v1/reviews/{review.id}/decision", json={"decision": "criticism"})
    entry = session.scalars(select(AuditEntry)).first()
    assert entry is not None
    entry.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    session.delete(session.scalars(select(AuditEntry)).first())
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()


def test_latest_decisions_are_the_training_signal(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    texts = ["院長は不正請求している", "待ち時間が長い", "よくわからない", "気が変わった"]
    reviews = [make_review(session, listing, text=t, probability=0.6) for t in texts]
    decide = [
        [{"decision": "harmful", "category": "defamation"}],
        [{"decision": "criticism"}],
        [{"decision": "unsure"}],
        [{"decision": "criticism"}, {"decision": "unsure"}],  # the latest decision counts
    ]
    for r, bodies in zip(reviews, decide, strict=True):
        for body in bodies:
            response = reviewer_client.post(f"/api/v1/reviews/{r.id}/decision", json=body)
            assert response.status_code == 201

    examples = staff_decision_examples(session)

    assert sorted((e.label, e.text) for e in examples) == [
        ("criticism", "待ち時間が長い"),
        ("defamation", "院長は不正請求している"),
    ]
