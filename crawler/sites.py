"""Site profiles: what one review site looks like, declared in a TOML file per site.

One engine (crawler/extract.py, crawler/spiders/base.py) reads every profile, so a changed layout
is fixed by editing a profile, never the engine. Profiles shipped with the package live in
``crawler/profiles/*.toml``; an operator adds or overrides one (by file name) in
``$KUCHIKOMI_DATA_DIR/sites/*.toml``. docs/sources/profiles.md describes every key.

A profile whose file is wrong is refused as a whole with :class:`ProfileError`, which names the
file and the key: a half-read profile would crawl with a silently missing field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from kuchikomi_settings import get_settings

SHIPPED_DIR = Path(__file__).parent / "profiles"
FALLBACK = "schema_org"
# Listing.source is at most 32 characters; names are also file names and CLI arguments.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
FIELDS = ("id", "author", "rating", "date", "text", "title", "url")


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the key."""

    def __init__(self, path: Path | str, key: str | None, message: str) -> None:
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + message)
        self.path = str(path)
        self.key = key


@dataclass(frozen=True)
class FieldRule:
    """Where one value is read: a selector (CSS, or XPath after ``xpath:``), then a regex."""

    select: str | None
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class ListingURLRule:
    """A registered URL matching ``match`` is crawled as ``url`` (``{name}`` = named groups)."""

    match: re.Pattern[str]
    url: str | None


@dataclass(frozen=True)
class SiteProfile:
    name: str
    # "schema_org": reviews read from JSON-LD/microdata; "html": from the selectors below.
    extract: Literal["schema_org", "html"] = "schema_org"
    title: str = ""
    # The site's short name shown to staff in the web UI and CSV (「QLife」); title if empty.
    label: str = ""
    hosts: tuple[str, ...] = ()
    # "never" for a profile built without seeing the live site, else the date it was checked.
    verified: str = "never"
    origin: Literal["shipped", "local"] = "shipped"
    path: str | None = None
    # Forces the page encoding (e.g. "cp932") when the site declares none or a wrong one.
    encoding: str | None = None
    listing_urls: tuple[ListingURLRule, ...] = ()
    # Pagination: links tried in order, or the page number in the URL (``page_number`` regex
    # with a group named "page"), in which case a 404/410 page is the list's normal end.
    next_page: tuple[str, ...] = ()
    page_number: re.Pattern[str] | None = None
    # html profiles: one block per review; with ``detail_link`` the block only links to the
    # review's own page, whose ``detail_block`` holds the fields.
    review_block: str | None = None
    detail_link: str | None = None
    detail_block: str | None = None
    id_from_url: re.Pattern[str] | None = None
    fields: dict[str, FieldRule] = field(default_factory=dict)
    required: tuple[str, ...] = ("text",)
    date_format: str | None = None
    rating_scale: tuple[float, float] = (1.0, 5.0)
    # schema_org profiles: structured-data syntaxes and the types read as reviews.
    syntaxes: tuple[str, ...] = ("json-ld", "microdata")
    review_types: frozenset[str] = frozenset({"Review", "UserReview", "CriticReview"})
    # Types whose presence shows the page still carries review markup even without reviews.
    rating_types: frozenset[str] = frozenset({"AggregateRating"})

    @property
    def next_page_xpaths(self) -> tuple[str, ...]:
        return self.next_page

    @property
    def on_detail_pages(self) -> bool:
        return self.detail_link is not None

    def matches_host(self, host: str) -> bool:
        host = host.lower()
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def listing_url(self, url: str) -> str:
        """The URL to crawl for a registered URL (e.g. a hospital page → its review list)."""
        for rule in self.listing_urls:
            found = rule.match.search(url)
            if found:
                if rule.url is None:
                    return url
                return rule.url.format(**found.groupdict())
        return url


# --- reading TOML ---------------------------------------------------------------------------


class _Reader:
    """Typed access to one TOML table that reports the file and dotted key on every mistake."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, message: str) -> ProfileError:
        return ProfileError(self.path, self.key(name), message)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.error(name, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def text(self, name: str, default: str | None = None) -> str | None:
        value: str | None = self.get(name, str, default)
        if value is not None and not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, (list, str), [])
        values = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise self.error(name, "expected a list of non-empty strings")
        return tuple(values)

    def table(self, name: str) -> _Reader:
        return _Reader(self.path, self.get(name, dict, {}), f"{self.key(name)}.")

    def regex(self, name: str, value: str | None = None) -> re.Pattern[str] | None:
        value = self.text(name) if value is None else value
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.error(name, f"not a valid regular expression: {exc}") from None

    def selector(self, name: str, value: str | None = None) -> str | None:
        value = self.text(name) if value is None else value
        if value is not None:
            _check_selector(value, lambda message: self.error(name, message))
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key (misspelt?)")


def _check_selector(value: str, error: Any) -> None:
    from parsel import Selector

    try:
        probe = Selector(text="<html></html>")
        if value.startswith("xpath:"):
            probe.xpath(value.removeprefix("xpath:"))
        else:
            probe.css(value)
    except Exception as exc:  # noqa: BLE001 - cssselect and lxml raise many error types
        raise error(f"not a valid selector {value!r}: {exc}") from None


def _field_rule(reader: _Reader, name: str) -> FieldRule | None:
    value = reader.get(name, (str, dict))
    if value is None:
        return None
    if isinstance(value, str):
        return FieldRule(select=reader.selector(name, value))
    sub = _Reader(reader.path, value, f"{reader.key(name)}.")
    rule = FieldRule(select=sub.selector("select"), regex=sub.regex("regex"))
    sub.finish()
    if rule.select is None and rule.regex is None:
        raise reader.error(name, "give select, regex or both")
    return rule


def parse_profile(path: Path, *, origin: Literal["shipped", "local"]) -> SiteProfile:
    """Read one profile file; raises :class:`ProfileError` naming the file and key."""
    name = path.stem
    if not _NAME.match(name):
        raise ProfileError(
            path, None, "the file name must be a profile name: lower-case letters, digits and _"
        )
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(path, None, f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, None, f"not valid TOML: {exc}") from None
    top = _Reader(path, data)
    declared = top.text("name")
    if declared is not None and declared != name:
        raise top.error("name", f"{declared!r} differs from the file name {name!r}")
    extract = top.get("extract", str, "html")
    if extract not in ("schema_org", "html"):
        raise top.error("extract", f"use 'schema_org' or 'html', not {extract!r}")
    hosts = tuple(h.lower() for h in top.strings("hosts"))
    for host in hosts:
        if "/" in host or ":" in host:
            raise top.error("hosts", f"{host!r} is not a host name (no scheme, port or path)")
    encoding = top.text("encoding")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise top.error("encoding", f"unknown encoding {encoding!r}") from None

    rules: list[ListingURLRule] = []
    for index, item in enumerate(top.get("listing_url", list, [])):
        if not isinstance(item, dict):
            raise top.error(f"listing_url[{index}]", "expected a table with match and url")
        sub = _Reader(path, item, f"listing_url[{index}].")
        match = sub.regex("match")
        if match is None:
            raise sub.error("match", "missing")
        url = sub.text("url")
        if url is not None:
            try:
                url.format(**dict.fromkeys(match.groupindex, "1"))
            except (KeyError, IndexError, ValueError) as exc:
                raise sub.error("url", f"uses a group the match does not define: {exc}") from None
        sub.finish()
        rules.append(ListingURLRule(match, url))

    pagination = top.table("pagination")
    next_page = tuple(pagination.selector("next", s) or s for s in pagination.strings("next"))
    page_number = pagination.regex("page_number")
    if page_number is not None and "page" not in page_number.groupindex:
        raise pagination.error("page_number", "needs a group named page: (?P<page>\\d+)")
    pagination.finish()

    reviews = top.table("reviews")
    block = reviews.selector("block")
    detail_link = reviews.selector("detail_link")
    detail_block = reviews.selector("detail_block")
    id_from_url = reviews.regex("id_from_url")
    required = reviews.strings("required") or ("text",)
    date_format = reviews.text("date_format")
    scale = reviews.get("rating_scale", list, [1, 5])
    if (
        len(scale) != 2
        or not all(isinstance(v, int | float) for v in scale)
        or scale[0] >= scale[1]
    ):
        raise reviews.error("rating_scale", "expected [worst, best], e.g. [1, 5]")
    reviews.finish()
    for name_ in required:
        if name_ not in FIELDS:
            raise reviews.error("required", f"unknown field {name_!r}; fields are {FIELDS}")

    fields_reader = top.table("fields")
    fields: dict[str, FieldRule] = {}
    for field_name in FIELDS:
        rule = _field_rule(fields_reader, field_name)
        if rule is not None:
            fields[field_name] = rule
    fields_reader.finish()

    top.get("title", str)
    top.get("label", str)
    top.get("verified", str)
    top.finish()
    if extract == "html":
        if block is None:
            raise reviews.error("block", "missing: an html profile needs the review block")
        if detail_link is not None and detail_block is None:
            raise reviews.error(
                "detail_block", "missing: detail_link needs the detail page's block"
            )
        if "text" not in fields and "rating" not in fields:
            raise fields_reader.error("text", "missing: a review needs its text or rating")
        if detail_link is not None and id_from_url is None and "id" not in fields:
            raise reviews.error("id_from_url", "missing: reviews on detail pages need an id")
    return SiteProfile(
        name=name,
        extract=extract,
        title=data.get("title", ""),
        label=data.get("label", ""),
        hosts=hosts,
        verified=data.get("verified", "never"),
        origin=origin,
        path=str(path),
        encoding=encoding,
        listing_urls=tuple(rules),
        next_page=next_page,
        page_number=page_number,
        review_block=block,
        detail_link=detail_link,
        detail_block=detail_block,
        id_from_url=id_from_url,
        fields=fields,
        required=required,
        date_format=date_format,
        rating_scale=(float(scale[0]), float(scale[1])),
    )


def local_dir() -> Path:
    return get_settings().data_dir / "sites"


def load_profiles(local: Path | None = None) -> dict[str, SiteProfile]:
    """Shipped profiles, then the operator's (``$KUCHIKOMI_DATA_DIR/sites``) replacing by name.

    Raises :class:`ProfileError` for the first profile that cannot be used.
    """
    profiles, errors = load_profiles_lenient(local)
    if errors:
        raise next(iter(errors.values()))
    return profiles


def load_profiles_lenient(
    local: Path | None = None,
) -> tuple[dict[str, SiteProfile], dict[str, ProfileError]]:
    """Every usable profile, and the errors of the others by name.

    A broken operator profile is not replaced by the shipped one of the same name: the operator
    meant to change it, so its sites wait (and fail with the error) until the file is fixed.
    """
    profiles: dict[str, SiteProfile] = {}
    errors: dict[str, ProfileError] = {}
    directory = local_dir() if local is None else local
    paths = [(path, "shipped") for path in sorted(SHIPPED_DIR.glob("*.toml"))]
    if directory.is_dir():
        paths += [(path, "local") for path in sorted(directory.glob("*.toml"))]
    for path, origin in paths:
        try:
            profiles[path.stem] = parse_profile(path, origin=origin)  # type: ignore[arg-type]
            errors.pop(path.stem, None)
        except ProfileError as exc:
            profiles.pop(path.stem, None)
            errors[path.stem] = exc
    if FALLBACK not in profiles and FALLBACK not in errors:  # pragma: no cover - shipped
        errors[FALLBACK] = ProfileError(SHIPPED_DIR / f"{FALLBACK}.toml", None, "missing")
    return profiles, errors


def get_profile(name: str) -> SiteProfile:
    """The named profile; KeyError when there is none."""
    return load_profiles()[name]


def profile_for_url(url: str, profiles: dict[str, SiteProfile] | None = None) -> SiteProfile:
    """The profile whose hosts include the URL's host; the schema.org profile otherwise."""
    profiles = load_profiles() if profiles is None else profiles
    host = urlsplit(url).hostname or ""
    for profile in profiles.values():
        if profile.matches_host(host):
            return profile
    return profiles.get(FALLBACK, SCHEMA_ORG)


SCHEMA_ORG = parse_profile(SHIPPED_DIR / f"{FALLBACK}.toml", origin="shipped")
