"""Crawl health: whether each listing is really being read, so a broken parser is never mistaken
for a quiet clinic.

After every crawl run each listing gets a status from what its crawl reported:

- ``ok`` — read; reviews found, or none ever shown;
- ``layout_changed`` — pages that used to yield reviews yield none, or most review blocks lack
  what the site profile requires (the profile needs fixing: ``kuchikomi sites check``);
- ``blocked`` — 401/403/429, robots.txt, or an access-check/CAPTCHA page;
- ``gone`` — the listing's first page answers 404/410;
- ``needs_reconnect`` — Google refused the connection's token (set by the Google spider);
- ``failing`` — any other error (timeouts, 5xx, …).

The spiders classify their failures (``crawl_run_listing.failure_kind``); the rules turning a
run's outcome into a status live here. A change of status is written to the audit log (actor
``crawler``), which is also what the notification digest sends to admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.labels import HEALTH_STATUS_JA
from kuchikomi.services.audit import record_audit
from models import CrawlRunListing, Listing

STATUSES = ("ok", "layout_changed", "blocked", "gone", "failing", "needs_reconnect")
STATUS_JA = HEALTH_STATUS_JA
# What staff should do about each status (shown on the /sources page and in notifications).
ADVICE_JA: dict[str | None, str] = {
    "ok": "",
    "layout_changed": "サイトの構成が変わった可能性があります。プロファイルを確認してください"
    "（kuchikomi sites check）。",
    "blocked": "サイトにアクセスを拒否されています。巡回の間隔や連絡先を確認してください。",
    "gone": "ページが削除されたか移動しました。URL を確認してください。",
    "failing": "取得に失敗しています。続く場合はログを確認してください。",
    "needs_reconnect": "Google との接続をやり直してください（kuchikomi google connect）。",
    None: "まだ巡回していません。",
}
AUDIT_ACTION = "listing.health"
ACTOR = "crawler"


@dataclass(frozen=True)
class HealthRow:
    listing_id: int
    clinic_id: int
    source: str
    url: str
    status: str | None
    since: datetime | None
    detail: str | None
    consecutive_failures: int
    last_success_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "listing_id": self.listing_id,
            "clinic_id": self.clinic_id,
            "source": self.source,
            "url": self.url,
            "status": self.status,
            "since": self.since.isoformat() if self.since else None,
            "detail": self.detail,
            "consecutive_failures": self.consecutive_failures,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
        }


def _found_reviews_before(session: Session, row: CrawlRunListing) -> bool:
    return (
        session.scalar(
            select(CrawlRunListing.id)
            .where(
                CrawlRunListing.listing_id == row.listing_id,
                CrawlRunListing.run_id < row.run_id,
                CrawlRunListing.status == "ok",
                CrawlRunListing.reviews_seen > 0,
            )
            .limit(1)
        )
        is not None
    )


def status_of(session: Session, row: CrawlRunListing) -> tuple[str, str | None]:
    """The health status one finished crawl of a listing shows, and why in words."""
    if row.status != "ok":
        return row.failure_kind or "failing", row.error
    if row.pages and not row.reviews_seen and _found_reviews_before(session, row):
        return (
            "layout_changed",
            f"{row.pages} page(s) read but no reviews found, although earlier crawls found some",
        )
    return "ok", f"{row.reviews_seen} reviews on {row.pages} page(s)"


def update_health(
    *, session: Session, listing: Listing, row: CrawlRunListing, now: datetime
) -> str | None:
    """Apply one finished crawl to the listing's health; returns the previous status when it
    changed (and records the change in the audit log), else None."""
    status, detail = status_of(session, row)
    previous = listing.health_status
    if status == "ok":
        listing.consecutive_failures = 0
        listing.last_success_at = now
    else:
        listing.consecutive_failures = (listing.consecutive_failures or 0) + 1
    listing.health_detail = detail
    if status == previous:
        return None
    listing.health_status = status
    listing.health_since = now
    # The first crawl going well is no news; anything else is.
    if previous is not None or status != "ok":
        record_audit(
            session=session,
            user=None,
            actor=ACTOR,
            action=AUDIT_ACTION,
            object_type="listing",
            object_id=listing.id,
            before={"status": previous},
            after={
                "status": status,
                "detail": detail,
                "clinic_id": listing.clinic_id,
                "url": listing.url,
                "run_id": row.run_id,
            },
        )
    return previous or "none"


def list_health(*, session: Session, clinic_ids: list[int] | None = None) -> list[HealthRow]:
    """Every listing's health (or only these clinics'), by clinic then listing."""
    query = select(Listing).order_by(Listing.clinic_id, Listing.id)
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(clinic_ids))
    return [
        HealthRow(
            listing_id=listing.id,
            clinic_id=listing.clinic_id,
            source=listing.source,
            url=listing.url,
            status=listing.health_status,
            since=listing.health_since,
            detail=listing.health_detail,
            consecutive_failures=listing.consecutive_failures or 0,
            last_success_at=listing.last_success_at,
        )
        for listing in session.scalars(query)
    ]
