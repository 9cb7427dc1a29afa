"""``kuchikomi sites``: the site profiles in force, and checking one against a saved page.

``sites check`` is how an operator writes or fixes a profile: save a review page from a browser,
run the check offline, edit ``$KUCHIKOMI_DATA_DIR/sites/NAME.toml`` until the reviews come out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kuchikomi.cli.common import EXIT_FAILED, err_console, fail, print_json, print_table

if TYPE_CHECKING:
    from crawler.items import ReviewItem

app = typer.Typer(help="Site profiles: which review sites are read, and how.", no_args_is_help=True)


@app.command("list")
def list_(
    format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """List the site profiles in force (shipped, or local in $KUCHIKOMI_DATA_DIR/sites)."""
    from crawler.sites import load_profiles_lenient

    if format not in ("table", "json"):
        fail(f"unknown --format {format!r}; use table or json")
    profiles, errors = load_profiles_lenient()
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "title": p.title,
            "hosts": list(p.hosts),
            "origin": p.origin,
            "verified": p.verified,
            "path": p.path,
        }
        for p in sorted(profiles.values(), key=lambda p: p.name)
    ]
    if format == "json":
        print_json(rows)
    else:
        print_table(rows, ["name", "title", "hosts", "origin", "verified", "path"])
    for error in errors.values():
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(EXIT_FAILED)


def _row(review: ReviewItem) -> dict[str, Any]:
    """One review as ``sites check`` prints it (the same fields as the crawler stores)."""
    return {
        "external_id": review.external_id,
        "author": review.author,
        "rating": review.rating,
        "posted_at": review.posted_at.isoformat() if review.posted_at else None,
        "text": review.text,
        "url": review.url,
    }


def _page_url(html: str, given: str | None, profile_hosts: tuple[str, ...]) -> str:
    """The page's address: --url, else the canonical link a saved page usually keeps."""
    if given:
        return given
    from parsel import Selector

    selector = Selector(text=html or "<html></html>")
    for xpath in ("//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content"):
        found = (selector.xpath(xpath).get() or "").strip()
        if found.startswith(("http://", "https://")):
            return found
    host = profile_hosts[0] if profile_hosts else "example.invalid"
    return f"https://{host}/"


@app.command("check")
def check(
    name: str = typer.Argument(..., help="Profile name (see `kuchikomi sites list`)."),
    file: Path = typer.Argument(..., help="A page saved from a browser (.html)."),
    url: str | None = typer.Option(
        None, "--url", help="The address the page was saved from (ids and links depend on it)."
    ),
    format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Read a saved page offline with a profile and print the reviews found.

    Prints `[{external_id, author, rating, posted_at, text, url}]` with --format json; the next
    page's URL and any skipped review blocks go to stderr. For a profile whose reviews sit on
    their own pages, a list page gives each review's id and URL (no text), and a review's page
    gives the review. Exit 0 when reviews were found, 1 when none were.
    """
    from crawler.encoding import declared_encoding, page_encoding
    from crawler.extract import extract_detail_page, extract_page, id_from_url
    from crawler.sites import load_profiles_lenient

    if format not in ("table", "json"):
        fail(f"unknown --format {format!r}; use table or json")
    profiles, errors = load_profiles_lenient()
    if name in errors:
        fail(str(errors[name]))
    if name not in profiles:
        fail(f"no site profile {name!r}; known: {', '.join(sorted(profiles))}")
    profile = profiles[name]
    try:
        body = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    encoding = page_encoding(
        body, declared=declared_encoding(body, None), fallback="utf-8", forced=profile.encoding
    )
    html = body.decode(encoding, errors="replace")
    page_url = _page_url(html, url, profile.hosts)
    now = datetime.now(UTC)
    page = extract_page(html, page_url=page_url, listing_url=page_url, site=profile, now=now)
    kind = "list page"
    rows: list[dict[str, Any]] = [_row(r) for r in page.reviews]
    rows += [
        {
            "external_id": i,
            "author": None,
            "rating": None,
            "posted_at": None,
            "text": None,
            "url": u,
        }
        for i, u in page.detail_links
    ]
    next_url = page.next_url if page.has_review_markup else None
    if not page.has_review_markup and profile.on_detail_pages:
        detail = extract_detail_page(
            html,
            page_url=page_url,
            review_id=id_from_url(page_url, profile),
            site=profile,
            now=now,
        )
        if detail.has_review_markup:
            page, kind = detail, "review page"
            rows = [_row(r) for r in detail.reviews]
    if format == "json":
        print_json(rows)
    else:
        print_table(rows, ["external_id", "author", "rating", "posted_at", "text", "url"])
    notes = [f"{kind} read as {encoding} with profile {profile.name} ({profile.origin})"]
    notes.append(f"next page: {next_url or '-'}")
    if page.skipped:
        notes.append(f"skipped {page.skipped} of {page.blocks} review blocks:")
        notes += [f"  {problem}" for problem in page.problems[:10]]
    if not page.has_review_markup:
        notes.append("no review blocks found: check [reviews] block (and detail_block)")
    for note in notes:
        err_console.print(note, markup=False, highlight=False, soft_wrap=True)
    if not rows:
        raise typer.Exit(EXIT_FAILED)
