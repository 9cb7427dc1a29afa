"""Google Business Profile: the API's review JSON mapped to our items, its URLs and errors, and
access tokens from a refresh token (through google-auth, never a hand-written token exchange).

No database and no Scrapy here: the spider (crawler/spiders/google_business_profile.py) and the
connection service (kuchikomi/services/google.py) both build on it.

Why the API and not Maps pages: scraping Google Maps is forbidden by Google's terms and breaks
whenever the page changes; the Places API shows only five reviews and may not be stored. The
Business Profile API gives the owner of a verified listing all of its reviews, newest first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

from crawler.items import ReviewItem, hash_parts
from kuchikomi_settings import GoogleSettings
from models.text import storable

SOURCE = "google_business_profile"
SCOPE = "https://www.googleapis.com/auth/business.manage"
# The API's maximum page size; fewer, larger pages mean fewer requests against the quota.
PAGE_SIZE = 50
ANONYMOUS_AUTHOR = "匿名"
STAR_RATINGS = {"ONE": 1.0, "TWO": 2.0, "THREE": 3.0, "FOUR": 4.0, "FIVE": 5.0}
# Where Google documents the access request (the project must be approved before any call works).
ACCESS_REQUEST_DOCS = "https://developers.google.com/my-business/content/prereqs"

LOCATION_RE = re.compile(r"^accounts/([A-Za-z0-9_-]{1,64})/locations/([A-Za-z0-9_-]{1,64})$")

# Google appends (or prepends) a machine translation to reviews in another language than the
# viewer's. The original is what the reviewer wrote and what evidence must quote.
_TRANSLATED = "(Translated by Google)"
_ORIGINAL = "(Original)"


class GoogleError(Exception):
    """A Google call failed; the message is for clinic staff and operators and holds no secret."""


class ReconnectNeeded(GoogleError):
    """Google refused the refresh token (``invalid_grant``): revoked, expired or password reset."""


def reconnect_message(connection_id: int | None) -> str:
    command = "kuchikomi google connect"
    if connection_id is not None:
        command += f" --connection {connection_id}"
    return (
        "Google refused the stored refresh token (invalid_grant: revoked, expired, or the "
        f"account's password changed); run `{command}` again to reconnect. "
        "Google との接続が無効になりました。`" + command + "` を実行して再接続してください。"
    )


def check_location(name: str) -> str:
    """The location's resource name ``accounts/A/locations/L``; ValueError saying what is wrong."""
    name = name.strip().strip("/")
    if not LOCATION_RE.match(name):
        raise ValueError(
            f"not a Google location name: {name!r}; expected accounts/ACCOUNT_ID/locations/"
            "LOCATION_ID (see `kuchikomi google locations CONNECTION_ID`)"
        )
    return name


def reviews_url(api_base: str, location: str, page_token: str | None = None) -> str:
    query = {"pageSize": str(PAGE_SIZE), "orderBy": "updateTime desc"}
    if page_token:
        query["pageToken"] = page_token
    return f"{api_base.rstrip('/')}/v4/{location}/reviews?{urlencode(query, quote_via=quote)}"


def original_text(comment: str) -> str:
    """The reviewer's own words when Google added a machine translation to the comment."""
    if _ORIGINAL in comment:
        # "(Translated by Google) <translation>\n\n(Original)\n<original>"
        return comment.split(_ORIGINAL, 1)[1].strip()
    if _TRANSLATED in comment:
        # "<original>\n\n(Translated by Google)\n<translation>"
        before = comment.split(_TRANSLATED, 1)[0].strip()
        if before:
            return before
        return comment.split(_TRANSLATED, 1)[1].strip()
    return comment.strip()


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as the API writes it (``2025-03-04T05:06:07.123456789Z``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return storable(value) if isinstance(value, str) else ""


def review_item(raw: Mapping[str, Any], *, listing_url: str) -> ReviewItem | None:
    """One API review as stored; None when it carries no id (cannot be tracked across crawls)."""
    external_id = (_text(raw, "reviewId") or _text(raw, "name").rsplit("/", 1)[-1]).strip()
    if not external_id or len(external_id) > 255:
        return None
    reviewer = raw.get("reviewer") if isinstance(raw.get("reviewer"), Mapping) else {}
    assert isinstance(reviewer, Mapping)
    display_name = reviewer.get("displayName")
    if reviewer.get("isAnonymous") or not isinstance(display_name, str) or not display_name:
        author = ANONYMOUS_AUTHOR
    else:
        author = storable(display_name).strip()[:255]
    rating = STAR_RATINGS.get(str(raw.get("starRating")))
    comment = raw.get("comment")
    # No comment: a rating-only review. Stored with empty text so that it still counts (rating
    # distributions and volume bursts), though there is nothing to classify.
    text = original_text(storable(comment)) if isinstance(comment, str) else ""
    created_raw = _text(raw, "createTime") or None
    update_time = _text(raw, "updateTime")
    return ReviewItem(
        external_id=external_id,
        author=author,
        rating=rating,
        text=text,
        posted_at=parse_time(created_raw),
        posted_at_raw=created_raw[:100] if created_raw else None,
        posted_at_exact=True,
        # Google gives reviews no address of their own; staff open the listing on Maps.
        url=listing_url,
        # updateTime is Google's own edit marker, so it is part of the version: a review its
        # author saved again counts as edited, and a page whose every (id, version) is stored is
        # known, which is what lets an incremental crawl stop after one request.
        content_hash=hash_parts(author, "" if rating is None else f"{rating:g}", text, update_time),
    )


@dataclass
class ReviewsPage:
    reviews: list[ReviewItem]
    next_page_token: str | None
    total_review_count: int | None
    skipped: int  # reviews without an id


def parse_reviews_page(body: bytes, *, listing_url: str) -> ReviewsPage:
    """One ``…/reviews`` response; raises GoogleError when it is not the API's JSON."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GoogleError("the reviews response is not JSON") from None
    if not isinstance(data, dict):
        raise GoogleError("the reviews response is not a JSON object")
    raw_reviews = data.get("reviews", [])
    if not isinstance(raw_reviews, list):
        raise GoogleError("the reviews response has no list of reviews")
    reviews: list[ReviewItem] = []
    skipped = 0
    for raw in raw_reviews:
        item = review_item(raw, listing_url=listing_url) if isinstance(raw, dict) else None
        if item is None:
            skipped += 1
        else:
            reviews.append(item)
    token = data.get("nextPageToken")
    total = data.get("totalReviewCount")
    return ReviewsPage(
        reviews=reviews,
        next_page_token=token if isinstance(token, str) and token else None,
        total_review_count=total if isinstance(total, int) else None,
        skipped=skipped,
    )


def _google_error(body: bytes) -> tuple[str, str]:
    """(status, message) of Google's JSON error body, empty strings when it has none."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", ""
    status, message = error.get("status"), error.get("message")
    return (
        status if isinstance(status, str) else "",
        # Google's words, shortened: enough to search for, never a page of HTML.
        message.strip()[:300] if isinstance(message, str) else "",
    )


def describe_http_error(status: int, body: bytes, *, what: str) -> str:
    """One readable sentence for an error answer from a Business Profile API."""
    google_status, message = _google_error(body)
    said = f" (Google: {google_status + ': ' if google_status else ''}{message})" if message else ""
    if status == 403:
        return (
            f"Google answered 403 {google_status or 'PERMISSION_DENIED'} for {what}: the Google "
            "Cloud project of this OAuth client has not been granted Business Profile API access, "
            "or the connected Google account does not manage this location. Request access with "
            f"Google's Business Profile API access request form ({ACCESS_REQUEST_DOCS}), enable "
            "the Business Profile APIs in the project, and check `kuchikomi google locations`. "
            "Google Cloud プロジェクトに Business Profile API の利用が許可されていないか、接続した"
            f"アカウントがこのビジネスを管理していません{said}"
        )
    if status == 401:
        return f"Google refused the access token for {what} (HTTP 401) even after a refresh{said}"
    if status == 404:
        return f"Google has no {what} (HTTP 404): removed, or moved to another account{said}"
    return f"Google answered HTTP {status} for {what}{said}"


def retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def refresh_access_token(*, refresh_token: str, google: GoogleSettings) -> str:
    """A fresh access token for the stored refresh token (one call to the token URI).

    Raises :class:`ReconnectNeeded` when Google refuses the refresh token, :class:`GoogleError`
    for anything else. Messages never contain a token or the client secret.
    """
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import Request
    from google.oauth2.credentials import Credentials

    if not google.client_id or google.client_secret is None:
        raise GoogleError(
            "KUCHIKOMI_GOOGLE__CLIENT_ID and KUCHIKOMI_GOOGLE__CLIENT_SECRET must be set (the "
            "OAuth client of your Google Cloud project)"
        )
    credentials = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=google.token_uri,
        client_id=google.client_id,
        client_secret=google.client_secret.get_secret_value(),
        scopes=[SCOPE],
    )
    transport = Request()

    def request(**kwargs: Any) -> Any:
        # google-auth's default timeout is two minutes; ours is the configured one.
        kwargs.setdefault("timeout", google.timeout)
        return transport(**kwargs)

    try:
        credentials.refresh(request)  # type: ignore[no-untyped-call]
    except RefreshError as exc:
        # args: (message, response body as a dict); only Google's error code and description are
        # repeated, never the request (which carries the refresh token and client secret).
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        code = str(data.get("error", ""))
        if code == "invalid_grant" or (not data and "invalid_grant" in str(exc)):
            raise ReconnectNeeded(code or "invalid_grant") from None
        description = str(data.get("error_description", ""))[:200]
        detail = ": ".join(part for part in (code, description) if part) or "no reason given"
        raise GoogleError(
            f"Google's token endpoint {google.token_uri} refused to refresh the access token "
            f"({detail})"
        ) from None
    except TransportError:
        raise GoogleError(f"cannot reach Google's token endpoint {google.token_uri}") from None
    token = credentials.token
    if not isinstance(token, str) or not token:
        raise GoogleError(f"Google's token endpoint {google.token_uri} returned no access token")
    return token
