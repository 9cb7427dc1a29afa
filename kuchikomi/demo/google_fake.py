"""A local stand-in for Google's OAuth token endpoint and the Business Profile APIs.

Serves, on one local port, what kuchikomi-guard calls: the token URI (refresh and authorization
code grants), Account Management ``GET /v1/accounts``, Business Information
``GET /v1/accounts/{a}/locations`` and ``GET /v1/locations/{l}``, and Business Profile
``GET /v4/accounts/{a}/locations/{l}/reviews`` with paging, newest update first. It checks the
client, refresh and access tokens like Google does (400 ``invalid_grant``, 401 UNAUTHENTICATED,
403 PERMISSION_DENIED), and a test can script failures (429 with Retry-After, 500…), edit and
remove reviews, expire access tokens and revoke refresh tokens.

``kuchikomi demo`` runs it with one sample location so Google reviews flow without credentials;
the tests run it to exercise the real HTTP, Scrapy and database path.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kuchikomi.demo.serving import serve_handler

SCOPE = "https://www.googleapis.com/auth/business.manage"
DEMO_CLIENT_ID = "demo-client-id.apps.googleusercontent.example"
DEMO_CLIENT_SECRET = "demo-client-secret"  # not a secret: the fake's own, for the demo only
STARS = {1: "ONE", 2: "TWO", 3: "THREE", 4: "FOUR", 5: "FIVE"}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeReview:
    review_id: str
    author: str
    rating: int | None  # None: STAR_RATING_UNSPECIFIED
    comment: str | None  # None: a rating-only review
    created: datetime
    updated: datetime | None = None
    anonymous: bool = False
    reply: str | None = None

    def edit(self, comment: str | None, *, at: datetime, rating: int | None = None) -> None:
        self.comment = comment
        if rating is not None:
            self.rating = rating
        self.updated = at

    def to_json(self, location: str) -> dict[str, Any]:
        reviewer: dict[str, Any] = {"isAnonymous": self.anonymous}
        if not self.anonymous:
            reviewer["displayName"] = self.author
            reviewer["profilePhotoUrl"] = "https://lh3.googleusercontent.example/a/photo"
        else:
            reviewer["displayName"] = "A Google User"
        data: dict[str, Any] = {
            "name": f"{location}/reviews/{self.review_id}",
            "reviewId": self.review_id,
            "reviewer": reviewer,
            "starRating": STARS.get(self.rating or 0, "STAR_RATING_UNSPECIFIED"),
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.updated or self.created),
        }
        if self.comment is not None:
            data["comment"] = self.comment
        if self.reply is not None:
            data["reviewReply"] = {
                "comment": self.reply,
                "updateTime": rfc3339(self.updated or self.created),
            }
        return data


@dataclass
class FakeLocation:
    account_id: str
    location_id: str
    title: str
    address: dict[str, Any]
    reviews: list[FakeReview] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"accounts/{self.account_id}/locations/{self.location_id}"

    @property
    def maps_uri(self) -> str:
        return f"https://maps.google.com/maps?cid={self.location_id}"

    def review(self, review_id: str) -> FakeReview:
        return next(r for r in self.reviews if r.review_id == review_id)

    def remove(self, review_id: str) -> None:
        self.reviews = [r for r in self.reviews if r.review_id != review_id]


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class GoogleFake:
    """The fake's state; tests change it between crawls (thread-safe through ``lock``)."""

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    locations: list[FakeLocation] = field(default_factory=list)
    account_name: str = "さくら医療グループ"
    # 403 PERMISSION_DENIED on every API call: a project without Business Profile API access.
    denied: bool = False
    locations_page_size: int = 10
    base_url: str = ""
    hits: Counter[str] = field(default_factory=Counter)
    # Every API request's Authorization header value (tests check which token was used).
    authorizations: list[str] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    auth_codes: dict[str, str] = field(default_factory=dict)
    scripted: dict[str, deque[Scripted]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_refresh_token(self) -> str:
        token = "1//fake-refresh-" + secrets.token_urlsafe(24)
        self.refresh_tokens.add(token)
        return token

    def authorization_code(self) -> str:
        """A code the consent screen would hand out; exchanging it yields a new refresh token."""
        code = "4/fake-code-" + secrets.token_urlsafe(12)
        self.auth_codes[code] = self.issue_refresh_token()
        return code

    def revoke(self, refresh_token: str) -> None:
        self.refresh_tokens.discard(refresh_token)

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def add_location(
        self, account_id: str, location_id: str, title: str, address: dict[str, Any] | None = None
    ) -> FakeLocation:
        location = FakeLocation(account_id, location_id, title, address or {})
        self.locations.append(location)
        return location

    def fail_next(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` requests for ``path`` (no query) with ``status``."""
        default = {"error": {"code": status, "status": "UNAVAILABLE", "message": "scripted"}}
        if status == 429:
            default = {
                "error": {
                    "code": 429,
                    "status": "RESOURCE_EXHAUSTED",
                    "message": "Quota exceeded for quota metric 'Requests'.",
                }
            }
        queue = self.scripted.setdefault(path, deque())
        for _ in range(times):
            queue.append(Scripted(status, body or default, headers or {}))

    def reviews_path(self, location: FakeLocation) -> str:
        return f"/v4/{location.name}/reviews"

    # -- request handling -------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            self.hits[path] += 1
            if method == "POST" and path == "/token":
                return self._token(headers, parse_qs(body.decode("utf-8")))
            if method != "GET":
                return 405, _error(405, "METHOD_NOT_ALLOWED", "method not allowed"), {}
            self.authorizations.append(headers.get("authorization", ""))
            queue = self.scripted.get(path)
            if queue:
                scripted = queue.popleft()
                return scripted.status, scripted.body, scripted.headers
            bearer = headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in self.access_tokens:
                return (
                    401,
                    _error(
                        401,
                        "UNAUTHENTICATED",
                        "Request had invalid authentication credentials. Expected OAuth 2 "
                        "access token.",
                    ),
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
                )
            if self.denied:
                return (
                    403,
                    _error(
                        403,
                        "PERMISSION_DENIED",
                        "Requests to this API mybusiness.googleapis.com method "
                        "google.mybusiness.v4.ListReviews are blocked.",
                    ),
                    {},
                )
            return self._api(path, query)

    def _token(
        self, headers: dict[str, str], form: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        def one(key: str) -> str:
            return form.get(key, [""])[0]

        client_id, client_secret = one("client_id"), one("client_secret")
        basic = headers.get("authorization", "")
        if basic.startswith("Basic "):
            decoded = base64.b64decode(basic.removeprefix("Basic ")).decode("utf-8")
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}, {}
        grant = one("grant_type")
        if grant == "refresh_token" and one("refresh_token") in self.refresh_tokens:
            return 200, self._access(), {}
        if grant == "authorization_code" and one("code") in self.auth_codes:
            refresh_token = self.auth_codes.pop(one("code"))
            return 200, {**self._access(), "refresh_token": refresh_token}, {}
        if grant not in ("refresh_token", "authorization_code"):
            return 400, {"error": "unsupported_grant_type"}, {}
        return (
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            {},
        )

    def _access(self) -> dict[str, Any]:
        token = "ya29.fake-access-" + secrets.token_urlsafe(24)
        self.access_tokens.add(token)
        return {"access_token": token, "expires_in": 3599, "scope": SCOPE, "token_type": "Bearer"}

    def _api(
        self, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        segments = path.strip("/").split("/")
        if segments == ["v1", "accounts"]:
            accounts = sorted({loc.account_id for loc in self.locations})
            return (
                200,
                {
                    "accounts": [
                        {
                            "name": f"accounts/{account}",
                            "accountName": self.account_name,
                            "type": "LOCATION_GROUP",
                        }
                        for account in accounts
                    ]
                },
                {},
            )
        if len(segments) == 4 and segments[:2] == ["v1", "accounts"] and segments[3] == "locations":
            if "readMask" not in query:
                return 400, _error(400, "INVALID_ARGUMENT", "readMask is required"), {}
            found = [loc for loc in self.locations if loc.account_id == segments[2]]
            start = int(query.get("pageToken", ["0"])[0] or 0)
            chunk = found[start : start + self.locations_page_size]
            data: dict[str, Any] = {"locations": [_location_json(loc) for loc in chunk]}
            if start + self.locations_page_size < len(found):
                data["nextPageToken"] = str(start + self.locations_page_size)
            return 200, data, {}
        if len(segments) == 3 and segments[:2] == ["v1", "locations"]:
            for loc in self.locations:
                if loc.location_id == segments[2]:
                    return (
                        200,
                        {
                            **_location_json(loc),
                            "metadata": {
                                "mapsUri": loc.maps_uri,
                                "placeId": f"ChIJfake{loc.location_id}",
                            },
                        },
                        {},
                    )
            return 404, _error(404, "NOT_FOUND", "Requested entity was not found."), {}
        if len(segments) == 6 and segments[0] == "v4" and segments[5] == "reviews":
            name = "/".join(segments[1:5])
            location = next((loc for loc in self.locations if loc.name == name), None)
            if location is None:
                return 404, _error(404, "NOT_FOUND", "Requested entity was not found."), {}
            return 200, _reviews_page(location, query), {}
        return 404, _error(404, "NOT_FOUND", f"no such method {path}"), {}


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def _location_json(location: FakeLocation) -> dict[str, Any]:
    return {
        "name": f"locations/{location.location_id}",
        "title": location.title,
        "storefrontAddress": location.address,
    }


def _reviews_page(location: FakeLocation, query: dict[str, list[str]]) -> dict[str, Any]:
    size = min(int(query.get("pageSize", ["50"])[0] or 50), 50)
    ordered = sorted(location.reviews, key=lambda r: r.updated or r.created, reverse=True)
    if query.get("orderBy", [""])[0] != "updateTime desc":
        ordered = sorted(location.reviews, key=lambda r: r.created, reverse=True)
    start = int(query.get("pageToken", ["0"])[0] or 0)
    chunk = ordered[start : start + size]
    data: dict[str, Any] = {"reviews": [r.to_json(location.name) for r in chunk]}
    rated = [r.rating for r in location.reviews if r.rating]
    if location.reviews:
        data["averageRating"] = round(sum(rated) / len(rated), 1) if rated else 0
        data["totalReviewCount"] = len(location.reviews)
    if start + size < len(ordered):
        data["nextPageToken"] = str(start + size)
    if not chunk:
        del data["reviews"]
    return data


def _handler(fake: GoogleFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _respond(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, data, extra = fake.handle(method, self.path, headers, body)
            payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._respond("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._respond("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def serve(fake: GoogleFake, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``fake`` on a background thread; yields its base URL (``http://host:port``)."""
    with serve_handler(_handler(fake), host=host, port=port, name="google-fake") as base_url:
        fake.base_url = base_url
        yield base_url


def settings_env(fake: GoogleFake) -> dict[str, str]:
    """The KUCHIKOMI_GOOGLE__* variables that point kuchikomi-guard at a served fake."""
    base = fake.base_url
    return {
        "KUCHIKOMI_GOOGLE__CLIENT_ID": fake.client_id,
        "KUCHIKOMI_GOOGLE__CLIENT_SECRET": fake.client_secret,
        "KUCHIKOMI_GOOGLE__AUTH_URI": f"{base}/auth",
        "KUCHIKOMI_GOOGLE__TOKEN_URI": f"{base}/token",
        "KUCHIKOMI_GOOGLE__API_BASE": base,
        "KUCHIKOMI_GOOGLE__ACCOUNT_API_BASE": base,
        "KUCHIKOMI_GOOGLE__BUSINESS_INFO_API_BASE": base,
    }


def demo_fake(now: datetime | None = None) -> GoogleFake:
    """The demo's Google: one clinic's location with a few recent reviews of every kind.

    Review times count back from ``now``; the demo keeps its first ``now`` so that a second run
    sees the same reviews (a different updateTime would read as an edit).
    """
    now = now or datetime.now(UTC)
    fake = GoogleFake()
    location = fake.add_location(
        "1029384756",
        "5647382910",
        "さくら内科クリニック",
        {
            "regionCode": "JP",
            "postalCode": "154-0015",
            "administrativeArea": "東京都",
            "locality": "世田谷区",
            "addressLines": ["桜新町1-2-3"],
        },
    )

    def ago(days: int, hours: int = 0) -> datetime:
        return now - timedelta(days=days, hours=hours)

    location.reviews = [
        FakeReview(
            "demo-g-1",
            "山田花子",
            5,
            "受付の方も先生も丁寧で、待ち時間も短かったです。",
            ago(40),
            reply="ご来院ありがとうございました。",
        ),
        FakeReview(
            "demo-g-2",
            "佐藤",
            2,
            "待ち時間が1時間以上ありました。予約制にしてほしいです。",
            ago(21),
        ),
        FakeReview("demo-g-3", "", 4, None, ago(14), anonymous=True),
        FakeReview(
            "demo-g-4",
            "Emily",
            4,
            "(Translated by Google) The doctor explained everything clearly.\n\n(Original)\n"
            "先生の説明がとても分かりやすかったです。",
            ago(9),
        ),
        FakeReview(
            "demo-g-5",
            "通りすがり",
            1,
            "ここの院長は詐欺師。金儲けしか考えていない最低の人間。絶対に行くな。",
            ago(3),
        ),
        FakeReview(
            "demo-g-6",
            "匿名希望",
            1,
            "看護師の田中は患者の個人情報を言いふらしている。住所も知っているから覚悟しておけ。",
            ago(1, 5),
        ),
    ]
    fake.refresh_tokens.add(DEMO_REFRESH_TOKEN)
    return fake


# The demo connection's refresh token: valid only at the demo's fake.
DEMO_REFRESH_TOKEN = "1//demo-refresh-token"
