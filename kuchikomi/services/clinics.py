"""Registering and listing clinics and their listing URLs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crawler.google import SOURCE as GOOGLE_SOURCE
from crawler.sites import ProfileError
from crawler.urls import UnsafeURLError, site_listing_url
from kuchikomi.errors import Invalid
from kuchikomi_settings import get_settings
from models import Clinic, GoogleConnection, Listing


class RegistrationError(Invalid):
    """Registration refused; the message is for the user and nothing was stored."""


@dataclass(frozen=True)
class GoogleListing:
    """A Google Business Profile location to register (see kuchikomi.services.google)."""

    location: str  # accounts/A/locations/L
    connection_id: int
    # The location's Google Maps link: the listing's URL, what staff open for its reviews.
    maps_url: str


def register_clinic(
    *,
    session: Session,
    name: str,
    urls: list[str],
    google_listings: Sequence[GoogleListing] = (),
) -> Clinic:
    """Validate every URL first, then store the clinic and its listings in one transaction."""
    name = name.strip()
    if not name:
        raise RegistrationError("clinic name is empty")
    if not urls and not google_listings:
        raise RegistrationError("at least one listing URL or Google location is needed")
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
    listings = [Listing(url=url, source=sources[url]) for url in normalized]
    listings += _google_listings(session, google_listings, taken_urls=normalized)
    taken = session.scalars(
        select(Listing).where(Listing.url.in_([listing.url for listing in listings]))
    ).all()
    if taken:
        raise RegistrationError(
            "already registered: "
            + ", ".join(f"{listing.url} (clinic {listing.clinic_id})" for listing in taken)
        )
    clinic = Clinic(name=name)
    clinic.listings = listings
    session.add(clinic)
    session.flush()
    return clinic


def _google_listings(
    session: Session, wanted: Sequence[GoogleListing], *, taken_urls: list[str]
) -> list[Listing]:
    listings: list[Listing] = []
    for item in wanted:
        if session.get(GoogleConnection, item.connection_id) is None:
            raise RegistrationError(
                f"no Google connection with id {item.connection_id}; connect one with "
                "`kuchikomi google connect`"
            )
        existing = session.scalars(
            select(Listing).where(Listing.google_location == item.location)
        ).first()
        if existing is not None:
            raise RegistrationError(
                f"already registered: {item.location} (clinic {existing.clinic_id})"
            )
        if item.maps_url in taken_urls or any(
            listing.google_location == item.location for listing in listings
        ):
            continue
        listings.append(
            Listing(
                url=item.maps_url,
                source=GOOGLE_SOURCE,
                google_location=item.location,
                google_connection_id=item.connection_id,
            )
        )
    return listings


def add_google_listing(*, session: Session, clinic: Clinic, listing: GoogleListing) -> Listing:
    """Add a Google location to an already registered clinic (the demo's sample clinic)."""
    (added,) = _google_listings(session, [listing], taken_urls=[])
    if session.scalars(select(Listing).where(Listing.url == added.url)).first() is not None:
        raise RegistrationError(f"already registered: {added.url}")
    clinic.listings.append(added)
    session.flush()
    return added


@dataclass(frozen=True)
class ClinicChoice:
    """A clinic as a filter menu shows it."""

    id: int
    name: str


def clinic_choices(
    *, session: Session, clinic_ids: Sequence[int] | None = None
) -> list[ClinicChoice]:
    """Ids and names of every clinic (or of ``clinic_ids``), by id: one light query, for menus
    that would otherwise load every clinic with its listings."""
    query = select(Clinic.id, Clinic.name).order_by(Clinic.id)
    if clinic_ids is not None:
        query = query.where(Clinic.id.in_(clinic_ids))
    return [ClinicChoice(id=cid, name=name) for cid, name in session.execute(query)]


def listing_sources(*, session: Session, clinic_ids: Sequence[int] | None = None) -> list[str]:
    """The site adapters of the listings of every clinic (or of ``clinic_ids``), sorted."""
    query = select(Listing.source).distinct()
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(clinic_ids))
    return sorted(session.scalars(query))


def list_clinics(*, session: Session, clinic_ids: Sequence[int] | None = None) -> list[Clinic]:
    """Every clinic, or only those in ``clinic_ids`` (a clinic user's own; see api.auth)."""
    query = select(Clinic).options(selectinload(Clinic.listings)).order_by(Clinic.id)
    if clinic_ids is not None:
        query = query.where(Clinic.id.in_(clinic_ids))
    return list(session.scalars(query))
