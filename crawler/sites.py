"""Per-site selectors, one small declarative profile per site (DESIGN §4).

An operator fixes a changed layout here without touching the engine (crawler/extract.py,
crawler/spiders/base.py). Site adapters for the real portals (QLife, Caloo, …) add profiles here
and map their hosts in :func:`crawler.urls.detect_source`.
"""

from __future__ import annotations

from dataclasses import dataclass


def _rel_next(tag: str) -> str:
    # rel is a space-separated list ("next nofollow"); match the token, not the substring.
    return f"//{tag}[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"


@dataclass(frozen=True)
class SiteProfile:
    name: str
    # Where the next listing page is linked, tried in order (XPath returning an href).
    next_page_xpaths: tuple[str, ...]
    # Structured-data syntaxes read by extruct.
    syntaxes: tuple[str, ...] = ("json-ld", "microdata")
    # schema.org types read as one review each.
    review_types: frozenset[str] = frozenset({"Review", "UserReview", "CriticReview"})
    # Types whose presence shows the page still carries review markup even without reviews.
    rating_types: frozenset[str] = frozenset({"AggregateRating"})


SCHEMA_ORG = SiteProfile(
    name="schema_org",
    next_page_xpaths=(
        _rel_next("link"),
        _rel_next("a"),
        # Japanese portals' text links: 「次へ」, 「次のページ」, 「次 »」, 「次の10件」.
        "//a[starts-with(normalize-space(.), '次へ')"
        " or starts-with(normalize-space(.), '次のページ')"
        " or starts-with(normalize-space(.), '次 ') or normalize-space(.) = '次'"
        " or (starts-with(normalize-space(.), '次の') and contains(., '件'))]/@href",
    ),
)

SITES: dict[str, SiteProfile] = {SCHEMA_ORG.name: SCHEMA_ORG}
