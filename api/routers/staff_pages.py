"""Staff pages for decisions and the audit log: the decision form on a review page
(``POST /reviews/{id}/decision``) and the administrators' ``/audit`` page.

Forms carry the session's CSRF token (checked by :mod:`api.auth` before the route runs). The
form goes through the same validation (``DecisionCreate``) and service as the JSON API, so a
refused form writes nothing, exactly like a refused API call.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import AdminUser, CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import domain_status
from api.params import ReviewIdPath
from api.templating import templates
from kuchikomi.errors import Forbidden
from kuchikomi.japanese import (
    AUDIT_ACTION_JA,
    AUDIT_OBJECT_JA,
    BURST_KIND_JA,
    DECISION_JA,
    audit_actor_ja,
    audit_changes_ja,
)
from kuchikomi.schemas import NOTE_MAX_LENGTH, DbId, DecisionCreate, ReviewDetail
from kuchikomi.services.audit import list_audit
from kuchikomi.services.decisions import record_decision, review_detail
from kuchikomi.services.visibility import STAFF_ROLES, is_staff, refuse_unless_deciding
from models import Clinic, Listing, Review, User

router = APIRouter(include_in_schema=False)

# Who records decisions, for the burst pages (kuchikomi/services/visibility.py has the rule).
DECIDING_ROLES = STAFF_ROLES
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
            "can_decide": is_staff(user),
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


def form_error(exc: ValidationError) -> str:
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
    # The model-level rule left: harmful needs a category (the others' is dropped).
    return "「有害」と判断する場合は、分類（名誉毀損・侮辱など）を選んでください。"


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
    form = {"decision": decision, "category": category, "note": note}
    try:
        refuse_unless_deciding(user)
    except Forbidden as exc:
        # The review page answers (with the form and what was typed, for a role that has one),
        # not an error page.
        return render_review_page(
            request,
            review,
            user=user,
            error=exc.message_ja,
            form=form,
            code=domain_status(exc)[0],
        )
    # The category select comes pre-filled with the classifier's guess; it only means something
    # with "harmful", so for the other decisions it is dropped rather than refused.
    kept_category = (category or None) if decision == "harmful" else None
    try:
        body = DecisionCreate.model_validate(
            {"decision": decision, "category": kept_category, "note": note}
        )
    except ValidationError as exc:
        return render_review_page(
            request,
            review,
            user=user,
            error=form_error(exc),
            form=form,
            code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    record_decision(
        session=session, review_id=review_id, body=body, user=user, clinic_ids=clinic_ids
    )
    session.commit()
    # The page opens at its top, where the next step after this decision is offered.
    return RedirectResponse(
        f"/reviews/{review_id}?saved=true", status_code=status.HTTP_303_SEE_OTHER
    )


def _review_id(entry: Any) -> int | None:
    """The review an entry is about: a decision's, or a takedown case's."""
    if entry.object_type == "review" and entry.object_id.isdigit():
        return int(entry.object_id)
    if entry.object_type == "takedown_case":
        for snapshot in (entry.after, entry.before):
            if snapshot and isinstance(snapshot.get("review_id"), int):
                return int(snapshot["review_id"])
    return None


def _clinics_of_reviews(session: Session, ids: list[int | None]) -> dict[int, tuple[int, str]]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = (
        select(Review.id, Clinic.id, Clinic.name)
        .join(Listing, Listing.id == Review.listing_id)
        .join(Clinic, Clinic.id == Listing.clinic_id)
        .where(Review.id.in_(wanted))
    )
    return {rid: (cid, name) for rid, cid, name in session.execute(query)}


def _audit_target(entry: Any) -> tuple[str, str | None]:
    """What an entry is about, in Japanese, and the page that shows it (if any)."""
    kind = AUDIT_OBJECT_JA.get(entry.object_type, entry.object_type)
    after = entry.after or {}
    before = entry.before or {}
    if entry.object_type == "review":
        return f"{kind} #{entry.object_id}", f"/reviews/{entry.object_id}"
    if entry.object_type == "takedown_case":
        review_id = after.get("review_id") or before.get("review_id")
        if review_id:
            return f"{kind}（口コミ #{review_id}）", f"/reviews/{review_id}/takedown"
    if entry.object_type == "clinic":
        name = after.get("name")
        label = f"{kind} {name}" if name else f"{kind} #{entry.object_id}"
        return label, f"/clinics/{entry.object_id}"
    if entry.object_type == "listing" and after.get("clinic_id"):
        return f"{kind} #{entry.object_id}", f"/clinics/{after['clinic_id']}"
    return f"{kind} #{entry.object_id}", None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    before: Annotated[DbId | None, Query()] = None,
) -> HTMLResponse:
    entries, next_id = list_audit(session=session, before_id=before, limit=AUDIT_PAGE_SIZE)
    clinic_of_review = _clinics_of_reviews(session, [_review_id(e) for e in entries])
    rows: list[dict[str, Any]] = []
    for e in entries:
        target, link = _audit_target(e)
        rows.append(
            {
                "entry": e,
                "actor": audit_actor_ja(e.actor),
                "action": AUDIT_ACTION_JA.get(e.action, e.action),
                "target": target,
                "link": link,
                "changes": audit_changes_ja(e.before, e.after, e.object_type),
                "clinic": clinic_of_review.get(_review_id(e) or 0),
            }
        )
    return templates.TemplateResponse(
        request,
        "audit.html",
        {
            "rows": rows,
            "next_url": f"/audit?before={next_id}" if next_id is not None else None,
            "is_first_page": before is None,
        },
    )
