"""A site with more pages than fit in a night: runs read it stalest first and say so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from kuchikomi_settings import get_settings
from tests.crawler.conftest import PORTAL_TODAY


@pytest.fixture
def portal(model_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # 0.01 s between requests and a 36 ms night: a budget of 3 pages per night for the portal.
    monkeypatch.setenv("KUCHIKOMI_CRAWL__DOWNLOAD_DELAY", "0.01")
    monkeypatch.setenv("KUCHIKOMI_CRAWL__WINDOW_HOURS", "0.00001")
    get_settings.cache_clear()
    with serve(DemoPortal(today=PORTAL_TODAY)) as base_url:
        yield base_url


def kuchikomi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def crawl_all() -> dict:
    code, out, err = kuchikomi("crawl", "--all", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_listings_over_the_nightly_budget_are_read_stalest_first_over_several_nights(
    portal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = [url for _name, url in listing_urls(portal)]
    for number, url in enumerate(urls):
        code, _out, err = kuchikomi("clinic", "add", "--name", f"C{number}", "--url", url)
        assert code == 0, err

    # Never read: every listing is taken at once, and the run says it needed several nights.
    first = crawl_all()
    assert [o["url"] for o in first["listings"]] == urls
    pages = [o["pages"] for o in first["listings"]]
    assert pages == [3, 2, 4, 2, 2]
    (site,) = first["sites"]
    assert site["budget"] == 3 and site["pages"] == 13
    assert site["over_budget"] is True and site["nights"] == pytest.approx(13 / 3, abs=0.01)
    assert site["deferred"] == 0 and site["overdue"] == 0

    # Then each night takes the stalest listings its budget allows, and defers the others.
    second = crawl_all()
    assert [o["url"] for o in second["listings"]] == urls[:1]
    assert second["sites"][0]["deferred"] == 4
    assert second["sites"][0]["over_budget"] is False
    third = crawl_all()
    assert [o["url"] for o in third["listings"]] == urls[1:2]

    # The table output names the site that needs more than a night.
    monkeypatch.setenv("KUCHIKOMI_CRAWL__MAX_STALENESS_DAYS", "1")
    get_settings.cache_clear()
    code, out, err = kuchikomi("crawl", "--all")
    # A listing not read within the staleness limit is read anyway, budget or not.
    assert code == 0, err
    assert "pages per site against its nightly budget" in out
    # All five listings (one page each: nothing new since), past the budget of three.
    assert "127.0.0.1: 5 pages need 1.67 nights at its budget of 3 pages per night" in err
