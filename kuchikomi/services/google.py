"""Google Business Profile connections: OAuth consent, stored refresh tokens, the account's
locations, and what registering a location as a listing needs to know about it.

The OAuth exchanges go through google-auth-oauthlib (consent URL, code → tokens) and google-auth
(refresh); the REST calls are plain httpx with the access token. A refresh token is kept only
encrypted (models.crypto); access tokens live in memory for one command or crawl.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler import google
from kuchikomi.errors import Invalid
from kuchikomi.services.clinics import GoogleListing
from kuchikomi_settings import GoogleSettings, get_settings
from models import GoogleConnection, Listing
from models.base import utcnow
from models.crypto import SecretKeyError, check_secret_key, decrypt_secret, encrypt_secret

# Google's loopback redirect for installed apps (the out-of-band "copy this code" page was
# retired). On a server without a browser the redirected page fails to load, and the operator
# copies the code (or the whole address) from the browser's address bar instead.
REDIRECT_URI = "http://127.0.0.1:8085/"


class GoogleSetupError(Invalid):
    """Missing or wrong configuration or input (bad usage): the message says what to set."""


class GoogleConnectionNotFound(Invalid):
    """The request names a connection that does not exist. Invalid input rather than not found:
    the id is a reference inside a request (a clinic's Google location), answered 422 like any
    other field that cannot be used."""

    def __init__(self, connection_id: int) -> None:
        super().__init__(
            f"no Google connection with id {connection_id}; connect one with "
            "`kuchikomi google connect`"
        )


GoogleError = google.GoogleError


@dataclass(frozen=True)
class LocationInfo:
    name: str  # accounts/A/locations/L, as `clinic add --google-location` takes it
    title: str
    address: str


@dataclass(frozen=True)
class LocationDetails:
    name: str
    title: str
    maps_url: str


def check_configured() -> GoogleSettings:
    """The Google settings, or GoogleSetupError naming what is missing (before any prompt)."""
    settings = get_settings().google
    missing = [
        variable
        for variable, value in (
            ("KUCHIKOMI_GOOGLE__CLIENT_ID", settings.client_id),
            ("KUCHIKOMI_GOOGLE__CLIENT_SECRET", settings.client_secret),
        )
        if not value
    ]
    if missing:
        raise GoogleSetupError(
            " and ".join(missing) + " not set: create an OAuth client (type 'Desktop app') in "
            "your Google Cloud project and set its id and secret (see the README, "
            "Google ビジネスプロフィール)"
        )
    try:
        check_secret_key()
    except SecretKeyError as exc:
        raise GoogleSetupError(str(exc)) from None
    return settings


def _client_config(settings: GoogleSettings) -> dict[str, Any]:
    assert settings.client_secret is not None
    return {
        "installed": {
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
            "auth_uri": settings.auth_uri,
            "token_uri": settings.token_uri,
            "redirect_uris": [REDIRECT_URI],
        }
    }


@contextmanager
def _local_http_allowed(uri: str) -> Iterator[None]:
    # oauthlib refuses plain-HTTP OAuth endpoints; a loopback fake (tests, the demo) is one.
    # Allowed only for a literal loopback address, and only for the duration of the call.
    host = urlsplit(uri).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    variable = "OAUTHLIB_INSECURE_TRANSPORT"
    previous = os.environ.get(variable)
    if loopback:
        os.environ[variable] = "1"
    try:
        yield
    finally:
        if loopback:
            if previous is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = previous


class ConsentFlow:
    """One interactive consent: the URL to open, then the code the browser came back with."""

    def __init__(self, settings: GoogleSettings) -> None:
        from google_auth_oauthlib.flow import Flow

        self.settings = settings
        self._flow = Flow.from_client_config(
            _client_config(settings), scopes=[google.SCOPE], redirect_uri=REDIRECT_URI
        )
        # offline + consent: Google hands out a refresh token only on a fresh consent. No
        # include_granted_scopes: the token would then carry scopes granted to this client before,
        # and oauthlib refuses a token whose scopes differ from the ones asked for.
        with _local_http_allowed(settings.auth_uri):
            self.url, self.state = self._flow.authorization_url(
                access_type="offline", prompt="consent"
            )

    def exchange(self, pasted: str) -> str:
        """The refresh token for the pasted code (or the whole redirected address)."""
        pasted = pasted.strip()
        code = pasted
        if "://" in pasted or pasted.startswith("?") or "code=" in pasted:
            query = parse_qs(urlsplit(pasted).query or pasted.lstrip("?"))
            if "error" in query:
                raise GoogleSetupError(f"Google reported: {query['error'][0]} (consent refused?)")
            if query.get("state", [self.state])[0] != self.state:
                raise GoogleSetupError(
                    "the address is from another consent (state does not match); "
                    "start `kuchikomi google connect` again"
                )
            code = query.get("code", [""])[0]
        if not code:
            raise GoogleSetupError("no authorization code given")
        from oauthlib.oauth2.rfc6749.errors import OAuth2Error

        try:
            with _local_http_allowed(self.settings.token_uri):
                token = self._flow.fetch_token(code=code, timeout=self.settings.timeout)
        except OAuth2Error as exc:
            # Google's error code and description only; the request carried the client secret.
            detail = ": ".join(part for part in (exc.error, exc.description) if part)
            raise GoogleSetupError(f"Google refused the authorization code ({detail})") from None
        except OSError:
            raise GoogleError(
                f"cannot reach Google's token endpoint {self.settings.token_uri}"
            ) from None
        refresh_token = token.get("refresh_token") if isinstance(token, Mapping) else None
        if not isinstance(refresh_token, str) or not refresh_token:
            raise GoogleError(
                "Google returned no refresh token; remove kuchikomi-guard's access at "
                "https://myaccount.google.com/permissions and connect again"
            )
        return refresh_token


def check_refresh_token(refresh_token: str) -> None:
    """One refresh against the token URI; GoogleSetupError when Google refuses the token."""
    settings = check_configured()
    try:
        google.refresh_access_token(refresh_token=refresh_token, google=settings)
    except google.ReconnectNeeded:
        raise GoogleSetupError(
            "Google refused this refresh token (invalid_grant: revoked, expired, or issued to "
            "another OAuth client than KUCHIKOMI_GOOGLE__CLIENT_ID)"
        ) from None


def save_connection(
    *,
    session: Session,
    refresh_token: str,
    label: str | None = None,
    connection_id: int | None = None,
) -> GoogleConnection:
    """Store a new connection, or give an existing one (``connection_id``) a new refresh token,
    which also clears its "needs reconnect" status."""
    now = utcnow()
    encrypted = encrypt_secret(refresh_token)
    if connection_id is not None:
        connection = session.get(GoogleConnection, connection_id)
        if connection is None:
            raise GoogleConnectionNotFound(connection_id)
        connection.refresh_token_encrypted = encrypted
        if label:
            connection.label = label
    else:
        connection = GoogleConnection(
            label=label, refresh_token_encrypted=encrypted, status="ok", status_since=now
        )
        session.add(connection)
    if connection.status != "ok":
        connection.status_since = now
    connection.status, connection.status_detail = "ok", None
    session.flush()
    return connection


def access_token(*, session: Session, connection_id: int) -> str:
    """A fresh access token for the connection; marks it needs_reconnect when Google refuses."""
    connection = session.get(GoogleConnection, connection_id)
    if connection is None:
        raise GoogleConnectionNotFound(connection_id)
    settings = check_configured()
    refresh_token = decrypt_secret(connection.refresh_token_encrypted)
    try:
        return google.refresh_access_token(refresh_token=refresh_token, google=settings)
    except google.ReconnectNeeded:
        message = google.reconnect_message(connection_id)
        if connection.status != "needs_reconnect":
            connection.status, connection.status_since = "needs_reconnect", utcnow()
        connection.status_detail = message
        # Committed now: the error raised next rolls the caller's transaction back, and the
        # connection must stay marked for the crawl health report and the next command.
        session.commit()
        raise GoogleError(message) from None


def _get_json(url: str, *, token: str, what: str, settings: GoogleSettings) -> dict[str, Any]:
    """Google's JSON answer; a 404 is the caller's input (GoogleSetupError), not a failure."""
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=settings.timeout,
        )
    except httpx.HTTPError as exc:
        raise GoogleError(f"cannot reach Google for {what}: {exc.__class__.__name__}") from None
    if response.status_code == 404:
        raise GoogleSetupError(google.describe_http_error(404, response.content, what=what))
    if response.status_code != 200:
        raise GoogleError(
            google.describe_http_error(response.status_code, response.content, what=what)
        )
    try:
        data = response.json()
    except ValueError:
        raise GoogleError(f"Google's answer for {what} is not JSON") from None
    if not isinstance(data, dict):
        raise GoogleError(f"Google's answer for {what} is not a JSON object")
    return data


def _paged(url: str, params: dict[str, str], *, key: str, **kwargs: Any) -> Iterator[Any]:
    token: str | None = None
    for _ in range(1000):  # bounded: a server that keeps sending the same token cannot loop us
        query = {**params, **({"pageToken": token} if token else {})}
        page = _get_json(f"{url}?{urlencode(query, quote_via=quote)}" if query else url, **kwargs)
        items = page.get(key, [])
        yield from items if isinstance(items, list) else []
        next_token = page.get("nextPageToken")
        if not isinstance(next_token, str) or not next_token or next_token == token:
            return
        token = next_token


def address_text(address: Any) -> str:
    """A storefront address as written in Japan: 〒postcode prefecture city lines."""
    if not isinstance(address, Mapping):
        return ""
    parts: list[str] = []
    if address.get("postalCode"):
        parts.append(f"〒{address['postalCode']}")
    for key in ("administrativeArea", "locality", "sublocality"):
        if isinstance(address.get(key), str) and address[key]:
            parts.append(address[key])
    lines = address.get("addressLines")
    if isinstance(lines, list):
        parts.extend(line for line in lines if isinstance(line, str) and line)
    return " ".join(parts)


def list_locations(*, session: Session, connection_id: int) -> list[LocationInfo]:
    """Every location of every account the connection can see."""
    settings = check_configured()
    token = access_token(session=session, connection_id=connection_id)
    found: list[LocationInfo] = []
    accounts_url = f"{settings.account_api_base.rstrip('/')}/v1/accounts"
    for account in _paged(
        accounts_url, {}, key="accounts", token=token, what="the accounts", settings=settings
    ):
        account_name = account.get("name") if isinstance(account, Mapping) else None
        if not isinstance(account_name, str) or not account_name.startswith("accounts/"):
            continue
        url = f"{settings.business_info_api_base.rstrip('/')}/v1/{account_name}/locations"
        for location in _paged(
            url,
            {"readMask": "name,title,storefrontAddress"},
            key="locations",
            token=token,
            what=f"the locations of {account_name}",
            settings=settings,
        ):
            if not isinstance(location, Mapping) or not isinstance(location.get("name"), str):
                continue
            location_id = location["name"].rsplit("/", 1)[-1]
            title = location.get("title")
            found.append(
                LocationInfo(
                    name=f"{account_name}/locations/{location_id}",
                    title=title if isinstance(title, str) else "",
                    address=address_text(location.get("storefrontAddress")),
                )
            )
    return found


def location_details(*, session: Session, connection_id: int, location: str) -> LocationDetails:
    """What a listing of ``location`` stores: its title and its Google Maps link.

    The Maps link becomes the listing's URL: it is what staff open to see the reviews (Google
    gives a review no address of its own), it stays the same for the life of the place, and it
    keeps one clinic from registering the same place twice.
    """
    settings = check_configured()
    try:
        name = google.check_location(location)
    except ValueError as exc:
        raise GoogleSetupError(str(exc)) from None
    token = access_token(session=session, connection_id=connection_id)
    location_id = name.rsplit("/", 1)[-1]
    url = f"{settings.business_info_api_base.rstrip('/')}/v1/locations/{location_id}?" + urlencode(
        {"readMask": "name,title,storefrontAddress,metadata"}, quote_via=quote
    )
    data = _get_json(url, token=token, what=name, settings=settings)
    title = data.get("title") if isinstance(data.get("title"), str) else ""
    metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    maps_url = metadata.get("mapsUri")
    if not isinstance(maps_url, str) or not maps_url.startswith(("https://", "http://")):
        place_id = metadata.get("placeId")
        if not isinstance(place_id, str) or not place_id:
            raise GoogleSetupError(
                f"{name} is not published on Google Maps (no Maps link: not verified yet?); "
                "Google serves reviews only for verified, published locations"
            )
        maps_url = "https://www.google.com/maps/search/?" + urlencode(
            {"api": "1", "query": title or name, "query_place_id": place_id}
        )
    return LocationDetails(name=name, title=str(title), maps_url=maps_url[:2048])


def registered_location(*, session: Session, location: str) -> Listing | None:
    return session.scalars(select(Listing).where(Listing.google_location == location)).first()


def resolve_listings(*, session: Session, wanted: Sequence[tuple[str, int]]) -> list[GoogleListing]:
    """(location, connection id) pairs → what register_clinic stores, asking Google once each:
    proves the connection can read the location and gives its Maps link (the listing's URL)."""
    resolved: list[GoogleListing] = []
    for location, connection_id in wanted:
        details = location_details(session=session, connection_id=connection_id, location=location)
        resolved.append(GoogleListing(details.name, connection_id, details.maps_url))
    return resolved
