"""Staff pages for decisions and the audit log: the decision form on a review page
(``POST /reviews/{id}/decision``) and the administrators' ``/audit`` page.

Forms carry the session's CSRF token (checked by :mod:`api.auth` before the route runs). The
form goes through the same validation (``DecisionCreate``) and service as the JSON API, so a
refused form writes nothing, exactly like a refused API call.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth import AdminUser, CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.params import ReviewIdPath
from api.templating import REVIEW_NOT_FOUND, not_found_page, templates
from kuchikomi.labels import BURST_KIND_JA
from kuchikomi.schemas import NOTE_MAX_LENGTH, DbId, DecisionCreate, ReviewDetail
from kuchikomi.services.audit import list_audit
from kuchikomi.services.decisions import ReviewNotFoundError, record_decision, review_detail
from models import User

router = APIRouter(include_in_schema=False)

DECIDING_ROLES = ("admin", "reviewer")
DECISION_JA = {"harmful": "有害", "criticism": "正当な批判", "unsure": "保留（判断つかず）"}
AUDIT_PAGE_SIZE = 50


def render_review_page(
    request: Request,
    review: ReviewDetail,
    *,
    user: User,
    saved: bool = False,
    error: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    latest = review.decisions[-1] if review.decisions else None
    return templates.TemplateResponse(
        request,
        "review.html",
        {
            "review": review,
            "can_decide": user.role in DECIDING_ROLES,
            "decision_saved": saved,
            "decision_error": error,
            "decision_form": form
            or {
                "decision": latest.decision if latest else "",
                "category": (latest.category if latest else review.category) or "",
                "note": "",
            },
            "DECISION_JA": DECISION_JA,
            "BURST_KIND_JA": BURST_KIND_JA,
            "note_max_length": NOTE_MAX_LENGTH,
        },
        status_code=code,
    )


def _form_error(exc: ValidationError) -> str:
    # Field errors are located at the field; the model-level rule has an empty location.
    problems = {str(e["loc"][-1]) for e in exc.errors() if e["loc"]}
    if any(e["type"] in ("value_error", "string_unicode") for e in exc.errors() if e["loc"]):
        # Text that no database column can hold (NUL, unpaired surrogates; kuchikomi.schemas).
        return "使えない文字（NUL 文字など）が含まれています。取り除いてから送信してください。"
    if "note" in problems:
        return f"メモは{NOTE_MAX_LENGTH}文字以内で入力してください。"
    if "decision" in problems:
        return "判断（有害・正当な批判・保留）を選んでください。"
    if "category" in problems:
        return "分類の指定が正しくありません。"
    # The model-level rule: harmful needs a category, the others take none.
    return "「有害」と判断する場合は分類を選び、それ以外では分類を「—」にしてください。"


@router.post("/reviews/{review_id}/decision", response_class=HTMLResponse)
def decide_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: ReviewIdPath,
    decision: Annotated[str, Form(max_length=16)] = "",
    category: Annotated[str, Form(max_length=32)] = "",
    # Longer than the limit on purpose: an oversized note gets a readable error, not a 422 page.
    note: Annotated[str, Form(max_length=NOTE_MAX_LENGTH * 4)] = "",
) -> Response:
    clinic_ids = visible_clinic_ids(user)
    review = review_detail(session=session, review_id=review_id, clinic_ids=clinic_ids)
    if review is None:
        return not_found_page(request, REVIEW_NOT_FOUND)
    form = {"decision": decision, "category": category, "note": note}
    if user.role not in DECIDING_ROLES:
        return render_review_page(
            request,
            review,
            user=user,
            error="判断を記録できるのは管理者と確認担当者です。",
            form=form,
            code=status.HTTP_403_FORBIDDEN,
        )
    try:
        body = DecisionCreate.model_validate(
            {"decision": decision, "category": category or None, "note": note}
        )
    except ValidationError as exc:
        return render_review_page(
            request,
            review,
            user=user,
            error=_form_error(exc),
            form=form,
            code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    try:
        record_decision(
            session=session, review_id=review_id, body=body, user=user, clinic_ids=clinic_ids
        )
    except ReviewNotFoundError:
        return not_found_page(request, REVIEW_NOT_FOUND)
    session.commit()
    return RedirectResponse(
        f"/reviews/{review_id}?saved=true#decision", status_code=status.HTTP_303_SEE_OTHER
    )


def _json_text(value: dict[str, Any] | None) -> str:
    return "—" if value is None else json.dumps(value, ensure_ascii=False, indent=1)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    before: Annotated[DbId | None, Query()] = None,
) -> HTMLResponse:
    entries, next_id = list_audit(session=session, before_id=before, limit=AUDIT_PAGE_SIZE)
    rows: list[dict[str, Any]] = [
        {
            "entry": e,
            "link": f"/reviews/{e.object_id}" if e.object_type == "review" else None,
            # Plain text (autoescaped in the template), readable Japanese rather than \uXXXX.
            "before": _json_text(e.before),
            "after": _json_text(e.after),
        }
        for e in entries
    ]
    return templates.TemplateResponse(
        request,
        "audit.html",
        {
            "rows": rows,
            "next_url": f"/audit?before={next_id}" if next_id is not None else None,
            "is_first_page": before is None,
        },
    )
