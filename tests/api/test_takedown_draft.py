"""送信防止措置依頼書 drafts: the fields, the three formats, edits, the form page, scoping."""

from __future__ import annotations

import io
import re
from pathlib import Path

import docx
from pypdf import PdfReader
from sqlalchemy.orm import Session

from tests.api.casework import SCRIPT_TEXT, case_audit, case_of, harmful_review
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic

POST_URL = "https://reviews.example.jp/clinic/9#review-77"


def _docx_text(content: bytes) -> str:
    document = docx.Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_json_draft_is_prefilled_from_the_review_and_the_confirmed_category(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    review = harmful_review(session, url=POST_URL)
    response = login_as("reviewer").get(f"/api/v1/reviews/{review.id}/takedown-draft")
    assert response.status_code == 200
    draft = response.json()
    fields = draft["fields"]
    assert fields["location"] == POST_URL
    assert SCRIPT_TEXT in fields["information"]
    assert "通りすがり" in fields["information"] and "2025年3月4日" in fields["information"]
    assert fields["rights"] == "名誉権"
    # Factual reasons from the classifier; the model's own vocabulary note is not forwarded.
    assert "具体的な犯罪・不正行為の断定（不正請求）" in fields["reason"]
    assert "伝聞による事実の摘示（らしい）" in fields["reason"]
    assert "強く寄与した語" not in fields["reason"]
    # The requester signs: their details are left empty.
    assert fields["requester_name"] == fields["requester_address"] == ""
    assert fields["requester_contact"] == "" and fields["disclose_name"] is False
    assert draft["category"] == "defamation" and draft["category_confirmed"] is True
    assert draft["warnings"] == []
    routes = [route["key"] for route in draft["routes"]]
    assert routes[0] == "platform_form"
    assert {"ihaho", "moj", "lawyer", "letter"} <= set(routes)
    assert "police" not in routes
    assert draft["case"] is None


def test_rights_follow_the_category_staff_confirmed_over_the_classifier(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    from tests.api.casework import decide

    client = login_as("admin")
    review = harmful_review(session, category="defamation")
    # Staff corrected the category: privacy, not defamation.
    decide(session, review, "harmful", "privacy")
    fields = client.get(f"/api/v1/reviews/{review.id}/takedown-draft").json()["fields"]
    assert fields["rights"] == "プライバシー権"

    threat = harmful_review(session, category="threat", text="院長を待ってる。燃やす。")
    draft = client.get(f"/api/v1/reviews/{threat.id}/takedown-draft").json()
    assert draft["fields"]["rights"] == "平穏な生活を営む権利、業務を平穏に遂行する権利"
    assert "police" in [route["key"] for route in draft["routes"]]

    insult = harmful_review(session, category="insult", confirmed=False)
    draft = client.get(f"/api/v1/reviews/{insult.id}/takedown-draft").json()
    assert draft["fields"]["rights"] == "名誉感情"
    assert draft["category_confirmed"] is False
    assert any("判断がまだありません" in w for w in draft["warnings"])

    google = harmful_review(
        session, url="https://www.google.com/maps/reviews/data=abc", category="insult"
    )
    draft = client.get(f"/api/v1/reviews/{google.id}/takedown-draft").json()
    assert draft["site"] == "Google" and "Google" in draft["routes"][0]["name"]


def test_docx_and_pdf_carry_the_fields_and_the_text_as_typed(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    client = login_as("reviewer")
    review = harmful_review(session, url=POST_URL)

    response = client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=docx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert (
        f'filename="takedown-draft-review-{review.id}.docx"'
        in (response.headers["content-disposition"])
    )
    text = _docx_text(response.content)
    for label in (
        "侵害情報の通知書 兼 送信防止措置依頼書",
        "掲載されている場所",
        "掲載されている情報",
        "侵害されたとする権利",
        "権利が侵害されたとする理由（被害の状況など）",
        "住所",
        "氏名（記名押印）",
    ):
        assert label in text
    assert POST_URL in text
    assert SCRIPT_TEXT in text
    assert "名誉権" in text
    assert "違法・有害情報相談センター" in text

    response = client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    pdf = _pdf_text(response.content)
    flat = pdf.replace("\n", "")
    assert "送信防止措置依頼書" in flat
    assert POST_URL in flat
    assert "<script>alert(1)</script> & <b>太字</b>" in flat
    assert "名誉権" in flat
    assert "法務局の人権相談" in flat

    bad = client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=xml")
    assert bad.status_code == 422


def test_edits_are_kept_used_by_every_format_and_audited(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    client = login_as("reviewer")
    review = harmful_review(session, url=POST_URL)
    edit = {
        "reason": "当院では不正請求の事実はなく、監査でも指摘はありません。",
        "requester_name": "医療法人さくら会 理事長 山田太郎",
        "disclose_name": True,
    }
    response = client.put(f"/api/v1/reviews/{review.id}/takedown-draft", json=edit)
    assert response.status_code == 200, response.text
    draft = response.json()
    assert draft["fields"]["reason"] == edit["reason"]
    assert draft["edited"] == ["disclose_name", "reason", "requester_name"]
    assert draft["case"]["status"] == "draft"
    # Fields not edited still come from the review.
    assert draft["fields"]["location"] == POST_URL

    docx_text = _docx_text(
        client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=docx").content
    )
    assert edit["reason"] in docx_text and edit["requester_name"] in docx_text
    pdf = _pdf_text(
        client.get(f"/api/v1/reviews/{review.id}/takedown-draft?format=pdf").content
    ).replace("\n", "")
    assert "監査でも指摘はありません" in pdf

    (entry,) = case_audit(session)
    assert entry.action == "case.create" and entry.actor == client.email
    assert entry.before is None and entry.after["draft"]["reason"] == edit["reason"]


def test_bad_edits_are_refused_and_nothing_is_written(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    client = login_as("admin")
    review = harmful_review(session)
    url = f"/api/v1/reviews/{review.id}/takedown-draft"
    assert client.put(url, json={"reason": "x" * 10_001}).status_code == 422
    assert client.put(url, json={"unknown_field": "x"}).status_code == 422
    assert client.put(url, json={"disclose_name": "perhaps"}).status_code == 422
    assert client.put(url, content=b"not json").status_code == 422
    assert client.put("/api/v1/reviews/999999/takedown-draft", json={}).status_code == 404
    assert case_of(session, review.id) is None
    assert case_audit(session) == []


def test_clinic_users_get_404_for_other_clinics_drafts(
    session: Session, env: Path, login_as: LoginAs, client
) -> None:
    own = harmful_review(session, make_clinic(session, name="自院"))
    other = harmful_review(session, make_clinic(session, name="他院"))
    clinic_user = login_as("clinic", clinic_ids=[own.listing.clinic_id])
    for fmt in ("json", "docx", "pdf"):
        assert (
            clinic_user.get(f"/api/v1/reviews/{own.id}/takedown-draft?format={fmt}").status_code
            == 200
        )
        assert (
            clinic_user.get(f"/api/v1/reviews/{other.id}/takedown-draft?format={fmt}").status_code
            == 404
        )
    assert (
        clinic_user.put(f"/api/v1/reviews/{other.id}/takedown-draft", json={"rights": "x"})
    ).status_code == 404
    assert clinic_user.get(f"/reviews/{other.id}/takedown").status_code == 404
    assert case_of(session, other.id) is None
    assert client.get(f"/api/v1/reviews/{own.id}/takedown-draft").status_code == 401


def test_clinic_users_read_drafts_but_cannot_edit_them(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    """Issue 12: clinic users are read-only, by the API (403) and by the page's form (403)."""
    own = harmful_review(session, make_clinic(session, name="自院"))
    clinic_user = login_as("clinic", clinic_ids=[own.listing.clinic_id])
    url = f"/api/v1/reviews/{own.id}/takedown-draft"
    before = clinic_user.get(url).json()
    refused = clinic_user.put(url, json={"rights": "書き換え"})
    assert refused.status_code == 403 and "admins and reviewers" in refused.json()["detail"]
    form = clinic_user.post(
        f"/reviews/{own.id}/takedown",
        data={"rights": "書き換え", "csrf_token": clinic_user.csrf_token},
    )
    assert form.status_code == 403 and "閲覧のみ" in form.text
    assert clinic_user.get(url).json() == before
    assert case_of(session, own.id) is None
    assert case_audit(session) == []


def _form_values(html: str) -> dict[str, str]:
    values = dict(re.findall(r'<input type="text" name="(\w+)" value="([^"]*)"', html))
    # A browser drops the one newline that follows <textarea>.
    values.update(re.findall(r'<textarea name="(\w+)"[^>]*>\n?([^<]*)</textarea>', html))
    return values


def test_form_page_edits_the_draft_with_the_csrf_token(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    import html as htmllib

    client = login_as("reviewer")
    review = harmful_review(session, url=POST_URL)
    page = client.get(f"/reviews/{review.id}/takedown")
    assert page.status_code == 200
    # The review text is in the form, escaped: it is shown, never run.
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    form = {k: htmllib.unescape(v) for k, v in _form_values(page.text).items()}
    assert form["location"] == POST_URL and SCRIPT_TEXT in form["information"]

    # The browser sends every field back (CRLF line breaks); only what changed is an edit.
    form = {k: v.replace("\n", "\r\n") for k, v in form.items()}
    form["requester_name"] = "山田太郎"
    form["csrf_token"] = client.csrf_token
    del client.headers["X-CSRF-Token"]
    saved = client.post(f"/reviews/{review.id}/takedown", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/reviews/{review.id}/takedown?saved=draft"
    case = case_of(session, review.id)
    assert case is not None and case.draft == {"requester_name": "山田太郎"}
    assert "下書きを保存しました" in client.get(saved.headers["location"]).text

    # Without the token the form is refused and nothing changes.
    form["requester_name"] = "別人"
    del form["csrf_token"]
    refused = client.post(f"/reviews/{review.id}/takedown", data=form, follow_redirects=False)
    assert refused.status_code == 403
    assert case_of(session, review.id).draft == {"requester_name": "山田太郎"}  # type: ignore[union-attr]

    # Too long: shown again with the reason, what was typed kept, nothing written.
    form["csrf_token"] = client.csrf_token
    form["rights"] = "名誉権" * 200
    too_long = client.post(f"/reviews/{review.id}/takedown", data=form, follow_redirects=False)
    assert too_long.status_code == 422
    assert "侵害されたとする権利" in too_long.text and "保存していません" in too_long.text
    assert case_of(session, review.id).draft == {"requester_name": "山田太郎"}  # type: ignore[union-attr]
    assert len(case_audit(session)) == 1
