"""The private-address guard on the requests Scrapy makes, redirects included."""

from __future__ import annotations

import pytest
import scrapy
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawler.middlewares import PrivateHostGuardMiddleware, RefusedHost

# A public address literal: checking it needs no DNS (the tests run offline).
PUBLIC = "http://93.184.215.14/clinic/1/reviews"


def _redirect(location: str) -> Request:
    """The follow-up request Scrapy's own RedirectMiddleware makes for a 302 from PUBLIC."""
    crawler = get_crawler(scrapy.Spider)
    crawler.spider = scrapy.Spider("t")
    redirects = RedirectMiddleware.from_crawler(crawler)
    response = HtmlResponse(PUBLIC, status=302, headers={"Location": location}, body=b"")
    follow = redirects.process_response(Request(PUBLIC), response)
    assert isinstance(follow, Request)
    return follow


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:8000/admin",
        "http://10.0.0.5/internal",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata endpoint
        "http://[::1]/",
        "http://[::ffff:192.168.1.1]/",
        "http://localhost/",
    ],
)
def test_a_redirect_to_a_private_address_is_refused(location: str) -> None:
    guard = PrivateHostGuardMiddleware(allow_private_hosts=False)
    assert guard.process_request(Request(PUBLIC)) is None  # the public page itself is fine
    follow = _redirect(location)
    with pytest.raises(RefusedHost, match="private"):
        guard.process_request(follow)


def test_private_addresses_pass_when_allowed() -> None:
    guard = PrivateHostGuardMiddleware(allow_private_hosts=True)
    assert guard.process_request(_redirect("http://127.0.0.1:8000/clinic")) is None
