"""Name resolution for crawls: the address a connection uses is the address that was checked.

The private-address guard middleware resolves a request's host before the request is sent, but
the connection resolves it again; a host whose DNS answers change between the two (DNS
rebinding) would slip past a check made only in the middleware. This resolver, installed on the
crawl's reactor (``TWISTED_DNS_RESOLVER``), checks the very answer the connection is made to.
Literal IP addresses never reach a resolver; the middleware refuses those.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from crawler.urls import is_private_address

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.internet.base import ReactorBase
    from twisted.internet.defer import Deferred

# The Scrapy setting that carries KUCHIKOMI_ALLOW_PRIVATE_HOSTS into the crawl process.
ALLOW_PRIVATE_HOSTS = "KUCHIKOMI_ALLOW_PRIVATE_HOSTS"


class PrivateAddressRefused(DNSLookupError):
    """A host name that resolved to a loopback/private address: as far as the connection is
    concerned, it did not resolve (a DNS failure is what Twisted passes on quietly)."""


# Host name -> the private address it resolved to, in this crawl process: the download error
# that reaches the spider says only that the lookup failed, and the spider reports why.
_refused: dict[str, str] = {}


def refused_address(host: str) -> str | None:
    """The private address ``host`` resolved to when this process refused to connect to it."""
    return _refused.get(host)


class PrivateAddressGuardResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing answers that are loopback/private addresses."""

    allow_private_hosts = False

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> PrivateAddressGuardResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.allow_private_hosts = crawler.settings.getbool(ALLOW_PRIVATE_HOSTS)
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        answer = super().getHostByName(name, timeout)
        if not self.allow_private_hosts:
            answer.addCallback(_refuse_private, name)
        return answer


def _refuse_private(address: Any, name: str) -> Any:
    try:
        parsed = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:  # not an address at all: refuse rather than guess
        raise DNSLookupError(f"{name}: unexpected answer {address!r}") from None
    if is_private_address(parsed):
        _refused[name] = str(parsed)
        raise PrivateAddressRefused(f"{name} resolves to private {parsed}")
    return address
