"""Summary tables: counts the dashboard needs that would otherwise scan every review per view.

- ``listing_review_count``: per listing, how many reviews are stored and how many of them were
  found removed (triggers on ``review``: insert, delete, a change of listing or ``removed_at``).
- ``flagged_review``: one narrow row per flagged review with its listing and dates (triggers on
  ``classification`` and on ``review``), so that flagged counts per clinic, per week and "recent"
  read a few tens of thousands of small rows instead of looking each flagged review up in the
  wide review table (a second at a million reviews on SQLite).

The database keeps both current itself: every writer — the crawler, the importer, the classifier,
the Google sync, a cascade from a deleted clinic, a bulk load — moves them in the same
transaction, and none of them has to remember to.

A burst's stored staff record (``burst.record_json``, written by ``kuchikomi.services.bursts``) is
the third: triggers on ``burst_review`` and on the columns of ``burst`` the record shows set it
NULL ("build it from the rows") when a member or one of those columns changes, whoever changes it
— the detector, a review deleted with its listing, a bulk load.

SQLite's batch migrations rebuild a table and drop its triggers, so :func:`install` runs after
every upgrade (models/migrate.py): it recreates missing triggers and, when it had to, recounts.
docs/operations.md#summary-tables
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, ForeignKey, Index, Integer, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ListingReviewCount(Base):
    __tablename__ = "listing_review_count"

    listing_id: Mapped[int] = mapped_column(
        ForeignKey("listing.id", ondelete="CASCADE"), primary_key=True
    )
    reviews: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    removed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FlaggedReview(Base):
    __tablename__ = "flagged_review"
    # Per-clinic counts, all and recent, read from the index alone.
    __table_args__ = (Index("ix_flagged_review_listing_seen", "listing_id", "first_seen_at"),)

    review_id: Mapped[int] = mapped_column(
        ForeignKey("review.id", ondelete="CASCADE"), primary_key=True
    )
    # Copies of the review's columns (kept equal by the triggers).
    listing_id: Mapped[int] = mapped_column(Integer)
    posted_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(index=True)


_IS_REMOVED = "CASE WHEN {row}.removed_at IS NULL THEN 0 ELSE 1 END"

_COPY_FLAGGED = """{verb} INTO flagged_review (review_id, listing_id, posted_at, first_seen_at)
            SELECT id, listing_id, posted_at, first_seen_at FROM review WHERE id = NEW.review_id"""
_FOLLOW_REVIEW = """UPDATE flagged_review
            SET listing_id = NEW.listing_id, posted_at = NEW.posted_at,
                first_seen_at = NEW.first_seen_at
            WHERE review_id = NEW.id"""

_SQLITE_TRIGGERS = {
    "trg_review_count_insert": f"""
        CREATE TRIGGER trg_review_count_insert AFTER INSERT ON review
        BEGIN
            INSERT INTO listing_review_count (listing_id, reviews, removed)
            VALUES (NEW.listing_id, 1, {_IS_REMOVED.format(row="NEW")})
            ON CONFLICT (listing_id) DO UPDATE
            SET reviews = reviews + 1, removed = removed + excluded.removed;
        END""",
    "trg_review_count_delete": f"""
        CREATE TRIGGER trg_review_count_delete AFTER DELETE ON review
        BEGIN
            UPDATE listing_review_count
            SET reviews = reviews - 1, removed = removed - {_IS_REMOVED.format(row="OLD")}
            WHERE listing_id = OLD.listing_id;
        END""",
    "trg_review_count_update": f"""
        CREATE TRIGGER trg_review_count_update AFTER UPDATE OF listing_id, removed_at ON review
        BEGIN
            UPDATE listing_review_count
            SET reviews = reviews - 1, removed = removed - {_IS_REMOVED.format(row="OLD")}
            WHERE listing_id = OLD.listing_id;
            INSERT INTO listing_review_count (listing_id, reviews, removed)
            VALUES (NEW.listing_id, 1, {_IS_REMOVED.format(row="NEW")})
            ON CONFLICT (listing_id) DO UPDATE
            SET reviews = reviews + 1, removed = removed + excluded.removed;
        END""",
    "trg_flagged_review_insert": f"""
        CREATE TRIGGER trg_flagged_review_insert AFTER INSERT ON classification
        WHEN NEW.flagged
        BEGIN
            {_COPY_FLAGGED.format(verb="INSERT OR REPLACE")};
        END""",
    "trg_flagged_review_update": f"""
        CREATE TRIGGER trg_flagged_review_update AFTER UPDATE OF flagged, review_id
        ON classification
        BEGIN
            DELETE FROM flagged_review WHERE review_id = OLD.review_id;
            {_COPY_FLAGGED.format(verb="INSERT OR REPLACE")} AND NEW.flagged;
        END""",
    "trg_flagged_review_delete": """
        CREATE TRIGGER trg_flagged_review_delete AFTER DELETE ON classification
        BEGIN
            DELETE FROM flagged_review WHERE review_id = OLD.review_id;
        END""",
    "trg_flagged_review_follow": f"""
        CREATE TRIGGER trg_flagged_review_follow AFTER UPDATE OF listing_id, posted_at,
        first_seen_at ON review
        BEGIN
            {_FOLLOW_REVIEW};
        END""",
}

_POSTGRES_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION listing_review_count_track() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            UPDATE listing_review_count
            SET reviews = reviews - 1, removed = removed - {_IS_REMOVED.format(row="OLD")}
            WHERE listing_id = OLD.listing_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO listing_review_count AS c (listing_id, reviews, removed)
            VALUES (NEW.listing_id, 1, {_IS_REMOVED.format(row="NEW")})
            ON CONFLICT (listing_id) DO UPDATE
            SET reviews = c.reviews + 1, removed = c.removed + EXCLUDED.removed;
        END IF;
        RETURN NULL;
    END
    $$"""
_POSTGRES_FLAGGED_FUNCTIONS = f"""
    CREATE OR REPLACE FUNCTION flagged_review_track() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            DELETE FROM flagged_review WHERE review_id = OLD.review_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.flagged THEN
            {_COPY_FLAGGED.format(verb="INSERT")}
            ON CONFLICT (review_id) DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE OR REPLACE FUNCTION flagged_review_follow() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {_FOLLOW_REVIEW};
        RETURN NULL;
    END
    $$"""
_POSTGRES_TRIGGERS = {
    "trg_review_count": """
        CREATE TRIGGER trg_review_count
        AFTER INSERT OR DELETE OR UPDATE OF listing_id, removed_at ON review
        FOR EACH ROW EXECUTE FUNCTION listing_review_count_track()""",
    "trg_flagged_review": """
        CREATE TRIGGER trg_flagged_review
        AFTER INSERT OR DELETE OR UPDATE OF flagged, review_id ON classification
        FOR EACH ROW EXECUTE FUNCTION flagged_review_track()""",
    "trg_flagged_review_follow": """
        CREATE TRIGGER trg_flagged_review_follow
        AFTER UPDATE OF listing_id, posted_at, first_seen_at ON review
        FOR EACH ROW EXECUTE FUNCTION flagged_review_follow()""",
}


# What a burst's stored record shows (kuchikomi.schemas.BurstPublic), besides its member ids.
_BURST_RECORD_COLUMNS = (
    "clinic_id, kind, window_start, window_end, observed, expected, score, harmful_share, "
    "alarm_at, details"
)
_BURST_STALE = (
    "UPDATE burst SET record_json = NULL WHERE id = {row}.burst_id AND record_json IS NOT NULL"
)
_BURST_SQLITE_TRIGGERS = {
    "trg_burst_record_member_insert": f"""
        CREATE TRIGGER trg_burst_record_member_insert AFTER INSERT ON burst_review
        BEGIN
            {_BURST_STALE.format(row="NEW")};
        END""",
    "trg_burst_record_member_delete": f"""
        CREATE TRIGGER trg_burst_record_member_delete AFTER DELETE ON burst_review
        BEGIN
            {_BURST_STALE.format(row="OLD")};
        END""",
    "trg_burst_record_member_update": f"""
        CREATE TRIGGER trg_burst_record_member_update AFTER UPDATE ON burst_review
        BEGIN
            {_BURST_STALE.format(row="OLD")};
            {_BURST_STALE.format(row="NEW")};
        END""",
    # An update that writes a new record together with the columns keeps that record.
    "trg_burst_record_fields": f"""
        CREATE TRIGGER trg_burst_record_fields AFTER UPDATE OF {_BURST_RECORD_COLUMNS} ON burst
        WHEN NEW.record_json IS OLD.record_json
        BEGIN
            UPDATE burst SET record_json = NULL WHERE id = NEW.id;
        END""",
}
_BURST_POSTGRES_FUNCTIONS = f"""
    CREATE OR REPLACE FUNCTION burst_record_member_track() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            {_BURST_STALE.format(row="OLD")};
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {_BURST_STALE.format(row="NEW")};
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE OR REPLACE FUNCTION burst_record_fields_track() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.record_json IS NOT DISTINCT FROM OLD.record_json THEN
            NEW.record_json := NULL;
        END IF;
        RETURN NEW;
    END
    $$"""
_BURST_POSTGRES_TRIGGERS = {
    "trg_burst_record_member": """
        CREATE TRIGGER trg_burst_record_member
        AFTER INSERT OR DELETE OR UPDATE ON burst_review
        FOR EACH ROW EXECUTE FUNCTION burst_record_member_track()""",
    "trg_burst_record_fields": f"""
        CREATE TRIGGER trg_burst_record_fields
        BEFORE UPDATE OF {_BURST_RECORD_COLUMNS} ON burst
        FOR EACH ROW EXECUTE FUNCTION burst_record_fields_track()""",
}


def _present_triggers(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    return set(conn.scalars(text(query)).all())


def _missing_triggers(conn: Connection) -> list[str]:
    wanted = list(_SQLITE_TRIGGERS if conn.dialect.name == "sqlite" else _POSTGRES_TRIGGERS)
    present = _present_triggers(conn)
    return [name for name in wanted if name not in present]


def recount(conn: Connection) -> None:
    """Rebuild the summaries from the reviews (after a bulk change made without the triggers)."""
    conn.execute(text("DELETE FROM listing_review_count"))
    conn.execute(
        text(
            "INSERT INTO listing_review_count (listing_id, reviews, removed) "
            "SELECT listing_id, count(*), count(removed_at) FROM review GROUP BY listing_id"
        )
    )
    conn.execute(text("DELETE FROM flagged_review"))
    conn.execute(
        text(
            "INSERT INTO flagged_review (review_id, listing_id, posted_at, first_seen_at) "
            "SELECT r.id, r.listing_id, r.posted_at, r.first_seen_at "
            "FROM classification c JOIN review r ON r.id = c.review_id WHERE c.flagged"
        )
    )


def install(conn: Connection) -> bool:
    """Create the summaries' triggers where missing, recounting then; True if anything was made.

    Each summary is installed once the schema has it (a migration to an earlier revision leaves
    the later ones out). Runs in the caller's transaction, so that counts and triggers appear
    together.
    """
    made = False
    tables = inspect(conn)
    if tables.has_table(ListingReviewCount.__tablename__):
        made = _install_review_counts(conn)
    if tables.has_table("burst") and "record_json" in {
        c["name"] for c in tables.get_columns("burst")
    }:
        made = _install_burst_records(conn) or made
    return made


def _install_burst_records(conn: Connection) -> bool:
    """The burst records' staleness triggers; when they had to be made, every stored record is
    dropped, since bursts may have changed while nothing watched."""
    sqlite = conn.dialect.name == "sqlite"
    wanted = _BURST_SQLITE_TRIGGERS if sqlite else _BURST_POSTGRES_TRIGGERS
    present = _present_triggers(conn)
    missing = [name for name in wanted if name not in present]
    if not missing:
        return False
    if not sqlite:
        conn.execute(text(_BURST_POSTGRES_FUNCTIONS))
    for name in missing:
        conn.execute(text(wanted[name]))
    conn.execute(text("UPDATE burst SET record_json = NULL WHERE record_json IS NOT NULL"))
    return True


def uninstall_burst_records(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in _BURST_SQLITE_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        return
    conn.execute(text("DROP TRIGGER IF EXISTS trg_burst_record_member ON burst_review"))
    conn.execute(text("DROP TRIGGER IF EXISTS trg_burst_record_fields ON burst"))
    for function in ("burst_record_member_track", "burst_record_fields_track"):
        conn.execute(text(f"DROP FUNCTION IF EXISTS {function}()"))


def _install_review_counts(conn: Connection) -> bool:
    missing = _missing_triggers(conn)
    if not missing:
        return False
    if conn.dialect.name == "sqlite":
        for name in missing:
            conn.execute(text(_SQLITE_TRIGGERS[name]))
    else:
        conn.execute(text(_POSTGRES_FUNCTION))
        conn.execute(text(_POSTGRES_FLAGGED_FUNCTIONS))
        for name in missing:
            conn.execute(text(_POSTGRES_TRIGGERS[name]))
    recount(conn)
    return True


def uninstall(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        return
    for name in ("trg_review_count", "trg_flagged_review_follow"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON review"))
    conn.execute(text("DROP TRIGGER IF EXISTS trg_flagged_review ON classification"))
    for function in (
        "listing_review_count_track",
        "flagged_review_track",
        "flagged_review_follow",
    ):
        conn.execute(text(f"DROP FUNCTION IF EXISTS {function}()"))
