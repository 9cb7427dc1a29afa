"""Listing URL checks shared by registration (CLI, API) and fetch time (the crawler).

Registration refuses malformed URLs, non-http(s) schemes and literal loopback/private addresses;
host names that do not resolve are accepted (the machine may be offline) and checked again, after
resolution, whenever the crawler fetches anything, redirects included.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

MAX_URL_LENGTH = 2048


class UnsafeURLError(ValueError):
    """A URL that must not be registered or fetched; the message is for the user."""


class UnresolvableHostError(UnsafeURLError):
    """The URL's host name does not resolve (now): it cannot be fetched, nor checked."""


def http_url(value: str | None) -> str | None:
    """The URL if it is http(s) with a host, else None: what pages and messages may make a link
    of (never ``javascript:`` and the like); anything else is shown as text."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def is_private_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalize_listing_url(url: str, *, allow_private_hosts: bool) -> str:
    """Return the URL in canonical form, or raise :class:`UnsafeURLError` saying what is wrong."""
    url = url.strip()
    if not url:
        raise UnsafeURLError("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURLError(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsafeURLError(f"URL contains whitespace or control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"malformed URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs can be crawled, not {url!r}")
    host = parts.hostname
    if not host:
        raise UnsafeURLError(f"URL has no host: {url!r}")
    if parts.username or parts.password:
        raise UnsafeURLError("URLs with a user name or password are not accepted")
    try:
        host_ascii = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeURLError(f"invalid host name in {url!r}") from None
    address = _literal_address(host_ascii)
    if address is None and host_ascii.lower() == "localhost":
        address = ipaddress.ip_address("127.0.0.1")
    if address is not None and is_private_address(address) and not allow_private_hosts:
        raise UnsafeURLError(
            f"{host} is a loopback or private address; set KUCHIKOMI_ALLOW_PRIVATE_HOSTS=true "
            "to crawl local sites"
        )
    netloc = host_ascii.lower()
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def public_addresses(url: str) -> list[str]:
    """The addresses the URL's host resolves to, all of them public; raises
    :class:`UnsafeURLError` when any is loopback/private or the host does not resolve.

    Connecting to one of these (rather than resolving the name again) is what keeps a DNS answer
    that changes in between (DNS rebinding) from reaching a private address.
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHostError(f"host {host!r} does not resolve: {exc}") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if is_private_address(address):
            raise UnsafeURLError(f"refusing to fetch {url}: {host} resolves to private {address}")
        addresses.append(str(address))
    return addresses


def check_literal_address(url: str) -> None:
    """Refuse a URL whose host is a literal loopback/private address (:class:`UnsafeURLError`).

    No name is resolved here: the crawler calls this for every request inside its event loop,
    where a blocking lookup would stall every other download. Host names are checked by the
    crawl's resolver, on the very answer the connection uses (crawler/resolver.py).
    """
    host = urlsplit(url).hostname or ""
    # "localhost" is loopback by definition (RFC 6761), whatever a resolver would answer.
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeURLError(f"refusing to fetch {url}: {host} resolves to private loopback")
    address = _literal_address(host.split("%", 1)[0])
    if address is not None and is_private_address(address):
        raise UnsafeURLError(f"refusing to fetch {url}: {host} resolves to private {address}")


def site_of(url: str) -> str:
    """The site a listing URL belongs to: its host, which is what politeness counts one request
    at a time against (the downloader's per-site slot is the host too). The port is not part of
    it, and ``localhost`` and ``127.0.0.1`` are two sites. Per-site budgets
    (kuchikomi/services/crawl_budget.py) and Scrapyd jobs (kuchikomi/services/scrapyd/) use it."""
    return (urlsplit(url).hostname or url).lower()


def detect_source(url: str) -> str:
    """Which site profile reads this listing: the one claiming its host, else schema.org.

    Raises :class:`crawler.sites.ProfileError` when a profile file cannot be used.
    """
    from crawler.sites import profile_for_url

    return profile_for_url(url).name


def site_listing_url(url: str, *, allow_private_hosts: bool) -> tuple[str, str]:
    """(source, URL to crawl) for a registered URL: the site profile may rewrite it, e.g. a
    hospital page into its review list. Raises :class:`UnsafeURLError` or ``ProfileError``."""
    from crawler.sites import profile_for_url

    canonical = normalize_listing_url(url, allow_private_hosts=allow_private_hosts)
    profile = profile_for_url(canonical)
    rewritten = profile.listing_url(canonical)
    if rewritten != canonical:
        canonical = normalize_listing_url(rewritten, allow_private_hosts=allow_private_hosts)
    return profile.name, canonical
