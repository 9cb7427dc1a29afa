"""``/api/v1/clinics``: list clinics and register a clinic with its listing URLs."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.exc import IntegrityError

from api.auth import AdminUser, CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from kuchikomi.schemas import ClinicCreate, ClinicPublic
from kuchikomi.services import google as google_service
from kuchikomi.services.audit import record_audit
from kuchikomi.services.clinics import list_clinics, register_clinic

router = APIRouter(prefix="/api/v1/clinics", tags=["clinics"])


@router.get("", response_model=list[ClinicPublic], summary="List clinics with their listings")
def get_clinics(session: SessionDep, user: CurrentUser) -> list[ClinicPublic]:
    clinics = list_clinics(session=session, clinic_ids=visible_clinic_ids(user))
    return [ClinicPublic.model_validate(c) for c in clinics]


@router.post(
    "",
    response_model=ClinicPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register a clinic and its listing URLs (admin)",
    responses=error_responses(401, 403, 422, 502),
)
def create_clinic(body: ClinicCreate, session: SessionDep, user: AdminUser) -> ClinicPublic:
    """Every URL is checked before anything is stored; a refusal (malformed or private URL,
    a URL already registered, a Google location the connection cannot read) answers 422 with the
    reason and stores nothing. Google locations are looked up at Google once (their Maps link
    becomes the listing's URL); Google failing to answer is 502."""
    try:
        google_listings = google_service.resolve_listings(
            session=session,
            wanted=[(item.location, item.connection_id) for item in body.google_locations],
        )
        clinic = register_clinic(
            session=session, name=body.name, urls=body.urls, google_listings=google_listings
        )
    except google_service.GoogleError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc)) from None
    record_audit(
        session=session,
        user=user,
        action="clinic.create",
        object_type="clinic",
        object_id=clinic.id,
        before=None,
        after={"name": clinic.name, "urls": [listing.url for listing in clinic.listings]},
    )
    try:
        session.commit()
    except IntegrityError:
        # Another request registered one of these URLs between our check and our commit.
        session.rollback()
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="already registered: one of these URLs was registered at the same moment",
        ) from None
    return ClinicPublic.model_validate(clinic)
