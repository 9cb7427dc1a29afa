"""Registering and listing clinics and their listing URLs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crawler.sites import ProfileError
from crawler.urls import UnsafeURLError, site_listing_url
from kuchikomi.settings import get_settings
from models import Clinic, Listing


class RegistrationError(ValueError):
    """Registration refused; the message is for the user and nothing was stored."""


def register_clinic(*, session: Session, name: str, urls: list[str]) -> Clinic:
    """Validate every URL first, then store the clinic and its listings in one transaction."""
    name = name.strip()
    if not name:
        raise RegistrationError("clinic name is empty")
    if not urls:
        raise RegistrationError("at least one listing URL is needed")
    allow_private = get_settings().allow_private_hosts
    normalized: list[str] = []
    sources: dict[str, str] = {}
    for url in urls:
        try:
            # The site profile picked by host may turn e.g. a hospital page into its review list.
            source, canonical = site_listing_url(url, allow_private_hosts=allow_private)
        except UnsafeURLError as exc:
            raise RegistrationError(str(exc)) from None
        except ProfileError as exc:
            raise RegistrationError(f"a site profile cannot be used: {exc}") from None
        if canonical not in normalized:
            normalized.append(canonical)
            sources[canonical] = source
    taken = session.scalars(select(Listing).where(Listing.url.in_(normalized))).all()
    if taken:
        raise RegistrationError(
            "already registered: "
            + ", ".join(f"{listing.url} (clinic {listing.clinic_id})" for listing in taken)
        )
    clinic = Clinic(name=name)
    clinic.listings = [Listing(url=url, source=sources[url]) for url in normalized]
    session.add(clinic)
    session.flush()
    return clinic


def list_clinics(*, session: Session, clinic_ids: Sequence[int] | None = None) -> list[Clinic]:
    """Every clinic, or only those in ``clinic_ids`` (a clinic user's own; see api.auth)."""
    query = select(Clinic).options(selectinload(Clinic.listings)).order_by(Clinic.id)
    if clinic_ids is not None:
        query = query.where(Clinic.id.in_(clinic_ids))
    return list(session.scalars(query))
