"""Tables: clinics, listings, Google connections, reviews, classifications, crawl runs, evidence,
locks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, utcnow


class Clinic(Base):
    __tablename__ = "clinic"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    listings: Mapped[list[Listing]] = relationship(
        back_populates="clinic", order_by="Listing.id", cascade="all, delete-orphan"
    )


class Listing(Base):
    """One URL where a clinic's reviews are published (a portal page, a schema.org page…)."""

    __tablename__ = "listing"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    # Which site adapter reads it ("schema_org", "qlife", …), detected from the URL at registration.
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_crawl_at: Mapped[datetime | None]
    # "ok" | "failed" | None (never crawled)
    last_crawl_status: Mapped[str | None] = mapped_column(String(16))
    last_crawl_error: Mapped[str | None] = mapped_column(Text)
    # The highest review id stored when a crawl of this listing last finished well (None: never).
    # Only reviews at or below it may end an incremental crawl early, so that reviews stored by
    # a run killed part-way do not hide the older pages it never reached
    # (docs/operations.md#crawl-run-recovery).
    crawl_watermark: Mapped[int | None] = mapped_column(Integer)
    # Google Business Profile listings (source "google_business_profile"): the location's resource
    # name ("accounts/A/locations/L") and the OAuth connection that may read its reviews.
    google_location: Mapped[str | None] = mapped_column(String(255))
    google_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("google_connection.id", ondelete="SET NULL"), index=True
    )
    # Crawl health: "ok" | "layout_changed" | "blocked" | "gone" | "failing" | "needs_reconnect"
    # (None until first crawled), since when it holds, and the reason in words.
    health_status: Mapped[str | None] = mapped_column(String(32))
    health_since: Mapped[datetime | None]
    health_detail: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_success_at: Mapped[datetime | None]

    clinic: Mapped[Clinic] = relationship(back_populates="listings")


class GoogleConnection(Base):
    """An OAuth grant to read a Google Business Profile account's reviews.

    The refresh token is stored only encrypted (with ``KUCHIKOMI_SECRET_KEY``); access tokens are
    never stored.
    """

    __tablename__ = "google_connection"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A human label (e.g. the Google account's e-mail or the first account's name), never a secret.
    label: Mapped[str | None] = mapped_column(String(255))
    refresh_token_encrypted: Mapped[str] = mapped_column(Text)
    # "ok" | "needs_reconnect" (Google refused the refresh token: invalid_grant)
    status: Mapped[str] = mapped_column(String(32), default="ok")
    status_detail: Mapped[str | None] = mapped_column(Text)
    status_since: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A review as published; unique per listing by the site's id or a stable content hash."""

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("listing_id", "external_id"),
        # Each date with the other: the dashboard's weekly trend compares them per review
        # (kuchikomi/services/dashboard.py), and reads both from the index alone.
        Index("ix_review_posted_seen", "posted_at", "first_seen_at"),
        Index("ix_review_seen_posted", "first_seen_at", "posted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        ForeignKey("listing.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(255))
    author: Mapped[str | None] = mapped_column(String(255))
    rating: Mapped[float | None] = mapped_column(Float)
    posted_at: Mapped[datetime | None]
    # The date exactly as the site printed it ("2025年3月4日投稿", "3日前"): evidence needs it.
    posted_at_raw: Mapped[str | None] = mapped_column(String(100))
    # False when posted_at was estimated from a relative date ("2か月前"); time by first_seen_at.
    posted_at_exact: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    content_hash: Mapped[str] = mapped_column(String(64))

    listing: Mapped[Listing] = relationship()
    classification: Mapped[Classification | None] = relationship(
        back_populates="review", uselist=False, cascade="all, delete-orphan"
    )


class Classification(Base):
    """The current classification of a review; re-classification under a new model replaces it."""

    __tablename__ = "classification"
    __table_args__ = (
        # The flagged queue is read by probability, newest first.
        Index("ix_classification_queue", "flagged", "harmful_probability", "review_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), unique=True)
    model_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    harmful_probability: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    classified_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[Review] = relationship(back_populates="classification")


class CrawlRun(Base):
    __tablename__ = "crawl_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # "running" | "ok" | "partial" | "failed" | "interrupted" (stopped by a signal, or found
    # still "running" when the next run started: its process was killed)
    status: Mapped[str] = mapped_column(String(16), default="running")
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    listings: Mapped[list[CrawlRunListing]] = relationship(
        back_populates="run", order_by="CrawlRunListing.id", cascade="all, delete-orphan"
    )


class CrawlRunListing(Base):
    """What one crawl run did for one listing: counts and, on failure, the reason."""

    __tablename__ = "crawl_run_listing"
    __table_args__ = (UniqueConstraint("run_id", "listing_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_run.id", ondelete="CASCADE"))
    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id", ondelete="CASCADE"))
    # "pending" | "ok" | "failed"
    status: Mapped[str] = mapped_column(String(16), default="pending")
    pages: Mapped[int] = mapped_column(Integer, default=0)
    reviews_seen: Mapped[int] = mapped_column(Integer, default=0)
    reviews_new: Mapped[int] = mapped_column(Integer, default=0)
    reviews_removed: Mapped[int] = mapped_column(Integer, default=0)
    # True when the crawl reached the last page (so unseen reviews may be marked removed).
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # Why a failed listing failed, for crawl health: "layout_changed" | "blocked" | "gone" |
    # "needs_reconnect" | None (any other error, health "failing").
    failure_kind: Mapped[str | None] = mapped_column(String(32))

    run: Mapped[CrawlRun] = relationship(back_populates="listings")
    listing: Mapped[Listing] = relationship()


class EvidenceRecord(Base):
    """One fetched response archived in a WARC file (ISO 28500), addressable by offset."""

    __tablename__ = "evidence_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id", ondelete="SET NULL"))
    listing_id: Mapped[int | None] = mapped_column(
        ForeignKey("listing.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    status_code: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[datetime]
    # Path relative to settings.data_dir so that the data directory can be moved.
    warc_path: Mapped[str] = mapped_column(String(1024))
    warc_offset: Mapped[int] = mapped_column(BigInteger)
    warc_length: Mapped[int] = mapped_column(BigInteger)
    # SHA-256 (hex) of the HTTP response body as received.
    payload_sha256: Mapped[str] = mapped_column(String(64))
    warc_record_id: Mapped[str] = mapped_column(String(64))


class ReviewSighting(Base):
    """A review was seen on an archived page: the link from a review to its evidence."""

    __tablename__ = "review_sighting"
    __table_args__ = (UniqueConstraint("review_id", "evidence_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), index=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence_record.id", ondelete="CASCADE"), index=True
    )
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobLock(Base):
    """A named lock held by one process (e.g. the crawl pipeline), so runs never overlap.

    Held by inserting the row (the primary key makes a second insert fail) and released by deleting
    it. Works across processes and machines on SQLite and PostgreSQL alike.
    """

    __tablename__ = "job_lock"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "host:pid" of the holder, so a lock left by a killed process can be recognised as stale.
    owner: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewRevision(Base):
    """An earlier wording of a review, kept when a crawl finds the review edited on the site.

    The review row always shows what is published now; its revisions, oldest first, are its edit
    history (the archived pages hold the same wording as evidence).
    """

    __tablename__ = "review_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), index=True)
    author: Mapped[str | None] = mapped_column(String(255))
    rating: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    # When a crawl first saw the wording that replaced this one.
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)
