"""The private-address guard on the requests Scrapy makes, redirects included, and the resolver
that checks the address each connection is actually made to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import scrapy
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawler.middlewares import PrivateHostGuardMiddleware, RefusedHost
from crawler.settings import scrapy_settings
from kuchikomi_settings import Settings

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


def test_the_guard_resolves_no_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # It runs inside the crawl's event loop for every request: a lookup there would stall every
    # other download. Host names are left to the crawl's resolver (tested below).
    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"blocking name lookup of {args[0]!r} in the event loop")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    guard = PrivateHostGuardMiddleware(allow_private_hosts=False)
    assert guard.process_request(Request("http://clinic-reviews.invalid/clinic/1")) is None
    with pytest.raises(RefusedHost, match="private"):
        guard.process_request(Request("http://10.0.0.5/internal"))


def test_private_addresses_pass_when_allowed() -> None:
    guard = PrivateHostGuardMiddleware(allow_private_hosts=True)
    assert guard.process_request(_redirect("http://127.0.0.1:8000/clinic")) is None


def test_the_guard_follows_the_crawls_own_settings() -> None:
    # What the crawl was started with decides, whatever this process's environment says: the
    # guard is off (NotConfigured) only when the crawl allows private hosts.
    allowing = get_crawler(scrapy.Spider, scrapy_settings(Settings(allow_private_hosts=True)))
    with pytest.raises(NotConfigured):
        PrivateHostGuardMiddleware.from_crawler(allowing)
    refusing = get_crawler(scrapy.Spider, scrapy_settings(Settings(allow_private_hosts=False)))
    guard = PrivateHostGuardMiddleware.from_crawler(refusing)
    with pytest.raises(RefusedHost, match="private"):
        guard.process_request(_redirect("http://127.0.0.1:8000/admin"))


# A real Scrapy crawl (in its own process: Twisted's reactor cannot be restarted) with the
# project's settings but without the guard middleware, so that only the resolver stands between
# the crawl and a host name that resolves to loopback, as after a DNS rebinding.
_RESOLVER_PROBE = """
import http.server, sys, threading
import scrapy
from scrapy.crawler import CrawlerProcess
from crawler.settings import scrapy_settings
from crawler.spiders.base import describe_failure
from kuchikomi_settings import get_settings

hits = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        hits.append(self.path)
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
settings = scrapy_settings(get_settings())
settings.update(DOWNLOADER_MIDDLEWARES={}, ITEM_PIPELINES={}, ROBOTSTXT_OBEY=False, RETRY_TIMES=0)
outcome = []
class Probe(scrapy.Spider):
    name = "probe"
    async def start(self):
        url = f"http://localhost:{server.server_address[1]}/reviews"
        yield scrapy.Request(url, callback=self.fetched, errback=self.failed)
    def fetched(self, response):
        outcome.append(f"fetched {response.status}")
    def failed(self, failure):
        outcome.append(describe_failure(failure, failure.request.url, 5))
process = CrawlerProcess(settings)
process.crawl(Probe)
process.start()
print(outcome, "hits", len(hits))
"""


@pytest.mark.slow  # a Scrapy crawl in a subprocess
@pytest.mark.parametrize("allowed", [False, True])
def test_connections_go_only_to_checked_addresses(allowed: bool, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KUCHIKOMI_DATA_DIR": str(tmp_path),
        "KUCHIKOMI_ALLOW_PRIVATE_HOSTS": "true" if allowed else "false",
    }
    probe = subprocess.run(
        [sys.executable, "-c", _RESOLVER_PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    result = probe.stdout.strip().splitlines()[-1]
    if allowed:
        assert result == "['fetched 200'] hits 1"
    else:
        assert "resolves to private 127.0.0.1" in result and result.endswith("hits 0")
        assert "Traceback" not in probe.stderr
