"""Summary tables: counts the dashboard needs that would otherwise scan every review per view.

``listing_review_count`` holds, per listing, how many reviews are stored and how many of them
were found removed. The database keeps it current itself, with triggers on ``review`` (insert,
delete, a change of listing or of ``removed_at``): every writer — the crawler, the importer, the
Google sync, a cascade from a deleted clinic, a bulk load — moves the counts in the same
transaction, and none of them has to remember to. Counts that depend on the classification
(flagged reviews, 3–4 % of all) are read live through the queue's index instead.

SQLite's batch migrations rebuild a table and drop its triggers, so :func:`install` runs after
every upgrade (models/migrate.py): it recreates missing triggers and, when it had to, recounts.
docs/operations.md#summary-tables
"""

from __future__ import annotations

from sqlalchemy import Connection, ForeignKey, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ListingReviewCount(Base):
    __tablename__ = "listing_review_count"

    listing_id: Mapped[int] = mapped_column(
        ForeignKey("listing.id", ondelete="CASCADE"), primary_key=True
    )
    reviews: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    removed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


_IS_REMOVED = "CASE WHEN {row}.removed_at IS NULL THEN 0 ELSE 1 END"

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
_POSTGRES_TRIGGER = """
    CREATE TRIGGER trg_review_count AFTER INSERT OR DELETE OR UPDATE OF listing_id, removed_at
    ON review FOR EACH ROW EXECUTE FUNCTION listing_review_count_track()"""


def _missing_triggers(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        present = set(
            conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        )
        return [name for name in _SQLITE_TRIGGERS if name not in present]
    found = conn.scalar(
        text(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'trg_review_count' "
            "AND tgrelid = 'review'::regclass"
        )
    )
    return [] if found else ["trg_review_count"]


def recount(conn: Connection) -> None:
    """Rebuild the summary from the reviews (after a bulk change made without the triggers)."""
    conn.execute(text("DELETE FROM listing_review_count"))
    conn.execute(
        text(
            "INSERT INTO listing_review_count (listing_id, reviews, removed) "
            "SELECT listing_id, count(*), count(removed_at) FROM review GROUP BY listing_id"
        )
    )


def install(conn: Connection) -> bool:
    """Create the summary's triggers where missing, recounting then; True if anything was made.

    Runs in the caller's transaction, so that counts and triggers appear together.
    """
    missing = _missing_triggers(conn)
    if not missing:
        return False
    if conn.dialect.name == "sqlite":
        for name in missing:
            conn.execute(text(_SQLITE_TRIGGERS[name]))
    else:
        conn.execute(text(_POSTGRES_FUNCTION))
        conn.execute(text(_POSTGRES_TRIGGER))
    recount(conn)
    return True


def uninstall(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    else:
        conn.execute(text("DROP TRIGGER IF EXISTS trg_review_count ON review"))
        conn.execute(text("DROP FUNCTION IF EXISTS listing_review_count_track()"))
