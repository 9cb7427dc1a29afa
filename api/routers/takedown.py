"""Takedown drafts, cases and deadlines (JSON API, docs/contracts.md and docs/domain.md).

- ``GET /api/v1/reviews/{id}/takedown-draft?format=json|docx|pdf`` — the 送信防止措置依頼書 draft;
- ``PUT /api/v1/reviews/{id}/takedown-draft`` — store staff edits of its fields;
- ``POST /api/v1/reviews/{id}/case`` — record that it was sent, and the answer;
- ``GET /api/v1/deadlines`` — disclosure urgency dates and follow-ups due soon.

Every route is scoped like the reviews: another clinic's review answers 404. Clinic users read
drafts and cases; editing a draft and recording a step are for admins and reviewers (403).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from api.params import ReviewIdPath
from kuchikomi.services.cases import (
    CaseTransition,
    change_status,
    save_draft,
)
from kuchikomi.services.deadlines import DeadlineList, list_deadlines
from kuchikomi.services.takedown import (
    DraftEdit,
    TakedownDraft,
    build_draft,
    draft_docx,
    draft_pdf,
)
from kuchikomi.services.visibility import refuse_unless_editing_cases, visible_review
from models.accounts import User

router = APIRouter(prefix="/api/v1", tags=["takedown"])

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class DraftFormat(StrEnum):
    json = "json"
    docx = "docx"
    pdf = "pdf"


def _refuse_readers(session: Session, user: User, review_id: int) -> None:
    """Clinic users read drafts and cases but change nothing (403); visibility first, so that
    another clinic's review stays 404, as if it did not exist."""
    visible_review(session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user))
    refuse_unless_editing_cases(user)


@router.get(
    "/reviews/{review_id}/takedown-draft",
    summary="送信防止措置依頼書 (takedown request) draft as JSON, .docx or PDF",
    response_model=TakedownDraft,
    responses={
        200: {"content": {DOCX_TYPE: {}, "application/pdf": {}}},
        **error_responses(404, 422),
    },
)
def get_takedown_draft(
    review_id: ReviewIdPath,
    session: SessionDep,
    user: CurrentUser,
    format: Annotated[DraftFormat, Query()] = DraftFormat.json,  # noqa: A002
) -> TakedownDraft | Response:
    """The form fields prefilled from the review and its confirmed category, with staff edits
    applied, plus the routes that fit the site. The requester's address, name and contact are
    left for the clinic (only the victim or their lawyer may file)."""
    draft = build_draft(session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user))
    if format is DraftFormat.json:
        return draft
    name = f"takedown-draft-review-{review_id}.{format.value}"
    content, media_type = (
        (draft_pdf(draft), "application/pdf")
        if format is DraftFormat.pdf
        else (draft_docx(draft), DOCX_TYPE)
    )
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.put(
    "/reviews/{review_id}/takedown-draft",
    summary="Edit the draft's fields (opens the case as a draft)",
    response_model=TakedownDraft,
    responses=error_responses(403, 404, 409, 422),
)
def put_takedown_draft(
    review_id: ReviewIdPath,
    edit: DraftEdit,
    session: SessionDep,
    user: CurrentUser,
) -> TakedownDraft:
    """Only the fields given change (admin, reviewer; clinic users read drafts). 409 while the
    request is out (state `sent`) or after the review was removed: the text sent is kept as the
    record of what was asked."""
    clinic_ids = visible_clinic_ids(user)
    _refuse_readers(session, user, review_id)
    save_draft(session=session, review_id=review_id, edit=edit, user=user, clinic_ids=clinic_ids)
    return build_draft(session=session, review_id=review_id, clinic_ids=clinic_ids)


@router.post(
    "/reviews/{review_id}/case",
    summary="Record a step of the takedown case: sent, removed, refused, no_answer",
    response_model=TakedownDraft,
    responses=error_responses(403, 404, 409, 422),
)
def post_case_status(
    review_id: ReviewIdPath,
    change: CaseTransition,
    session: SessionDep,
    user: CurrentUser,
) -> TakedownDraft:
    """Admin, reviewer. `draft → sent → removed | refused | no_answer` (a refused or
    unanswered request may be sent again). `on` is the JST calendar day it happened (today
    when omitted). A removal is confirmed separately, when a complete crawl no longer shows
    the review."""
    clinic_ids = visible_clinic_ids(user)
    _refuse_readers(session, user, review_id)
    change_status(
        session=session, review_id=review_id, change=change, user=user, clinic_ids=clinic_ids
    )
    return build_draft(session=session, review_id=review_id, clinic_ids=clinic_ids)


@router.get(
    "/deadlines",
    summary="Deadlines due soon: 発信者情報開示 urgency dates and follow-ups",
    response_model=DeadlineList,
    responses=error_responses(422),
)
def get_deadlines(
    session: SessionDep,
    user: CurrentUser,
    within_days: Annotated[
        int | None,
        Query(ge=0, le=3650, description="Due within this many days (default from settings)."),
    ] = None,
) -> DeadlineList:
    """For every review whose latest staff decision is `harmful`: the urgency date for a
    disclosure request (post date + 3 months by default) and, while a request is out, the
    follow-up date (7 days after sending). Overdue items are included; soonest first."""
    return list_deadlines(
        session=session, clinic_ids=visible_clinic_ids(user), within_days=within_days
    )
