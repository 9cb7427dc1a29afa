"""``POST /api/v1/reviews/{id}/decision`` and ``GET /api/v1/audit``: staff decisions and the
append-only audit log.

Who may do what: admins and reviewers decide on any review; clinic users read their own clinics'
reviews but do not decide (the decision is the association's, and it trains the classifier), and
another clinic's review answers 404 as if it did not exist. Only admins read the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import AdminUser, CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from api.params import ReviewIdPath, parse_id_cursor
from kuchikomi.schemas import AuditEntryPublic, DecisionCreate, DecisionPublic, FilterText, Page
from kuchikomi.services.audit import MAX_AUDIT_LIMIT, list_audit
from kuchikomi.services.decisions import decision_public, record_decision
from kuchikomi.services.visibility import refuse_unless_deciding, visible_review

router = APIRouter(prefix="/api/v1", tags=["decisions"])


@router.post(
    "/reviews/{review_id}/decision",
    response_model=DecisionPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record a staff decision on a review (admin, reviewer)",
    responses=error_responses(401, 403, 404, 422),
)
def post_decision(
    review_id: ReviewIdPath,
    body: DecisionCreate,
    session: SessionDep,
    user: CurrentUser,
) -> DecisionPublic:
    """`harmful` needs the confirmed or corrected `category`; `criticism` and `unsure` take
    none; `note` is at most 2000 characters. Each decision is added (earlier ones stay as
    history) together with an audit entry holding the previous and the new decision."""
    clinic_ids = visible_clinic_ids(user)
    # Visibility first: another clinic's review is 404 for everyone who cannot see it.
    visible_review(session=session, review_id=review_id, clinic_ids=clinic_ids)
    refuse_unless_deciding(user)
    decision = record_decision(
        session=session, review_id=review_id, body=body, user=user, clinic_ids=clinic_ids
    )
    session.commit()
    return decision_public(decision)


@router.get(
    "/audit",
    response_model=Page[AuditEntryPublic],
    summary="The audit log, newest first (admin)",
    responses=error_responses(401, 403, 422),
)
def get_audit(
    session: SessionDep,
    user: AdminUser,
    object_type: Annotated[FilterText | None, Query(max_length=32)] = None,
    object_id: Annotated[FilterText | None, Query(max_length=64)] = None,
    cursor: Annotated[
        str | None, Query(max_length=20, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 50,
) -> Page[AuditEntryPublic]:
    try:
        before_id = parse_id_cursor(cursor) if cursor is not None else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    entries, next_id = list_audit(
        session=session,
        before_id=before_id,
        object_type=object_type,
        object_id=object_id,
        limit=limit,
    )
    return Page[AuditEntryPublic](
        items=[AuditEntryPublic.model_validate(e) for e in entries],
        next_cursor=str(next_id) if next_id is not None else None,
    )
