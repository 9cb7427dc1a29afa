"""From a registered clinic to a flagged review, through the user's own commands.

The demo portal is served on 127.0.0.1, clinics are registered with ``kuchikomi clinic add``, the
crawl is a real Scrapy subprocess started by ``kuchikomi crawl --all``, the classifier is a model
trained from the shipped corpus, and the staff page is the real FastAPI app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from kuchikomi.cli import app
from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from tests.crawler.conftest import PORTAL_TODAY


@pytest.fixture
def portal(model_env: Path) -> Iterator[str]:
    with serve(DemoPortal(today=PORTAL_TODAY)) as base_url:
        yield base_url


def kuchikomi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_registered_clinics_are_crawled_classified_and_flagged(portal: str) -> None:
    for name, url in listing_urls(portal):
        code, out, err = kuchikomi("clinic", "add", "--name", name, "--url", url)
        assert code == 0, err
        assert out.strip().isdigit()

    code, out, err = kuchikomi("crawl", "--all", "--format", "json")
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "ok"
    assert {listing["status"] for listing in run["listings"]} == {"ok"}
    total = sum(listing["reviews_new"] for listing in run["listings"])
    assert total > 50
    assert run["classified"] == total

    code, out, err = kuchikomi("reviews", "list", "--flagged", "--format", "json")
    assert code == 0, err
    flagged = json.loads(out)
    by_text = {review["text"]: review for review in flagged}
    threat = next(r for t, r in by_text.items() if "ただじゃおかない" in t)
    assert threat["category"] == "threat"
    privacy = next(r for t, r in by_text.items() if "090-1234-5678" in t)
    assert privacy["category"] == "privacy"
    assert all(r["flagged"] and r["label"] == "harmful" for r in flagged)
    # Harsh but legitimate criticism of the poster's own visit stays out of the queue.
    assert not any("二度と行きません" in t for t in by_text)

    code, out, _ = kuchikomi("reviews", "list", "--format", "json")
    everything = json.loads(out)
    assert len(everything) == total
    assert len(flagged) < len(everything) / 3

    # The staff page lists the flagged reviews with category, probability and reasons; it needs
    # a login, here a bearer token made with the user's own commands.
    result = CliRunner().invoke(
        app,
        ["user", "add", "--email", "staff@example.jp", "--role", "reviewer", "--password-stdin"],
        input="correct horse battery staple\n",
    )
    assert result.exit_code == 0, result.stderr
    code, token, err = kuchikomi("token", "create", "--email", "staff@example.jp")
    assert code == 0, err
    with TestClient(create_app()) as client:
        assert client.get("/", follow_redirects=False).status_code == 303  # to /login
        page = client.get("/", headers={"Authorization": f"Bearer {token.strip()}"})
    assert page.status_code == 200
    assert "脅迫" in page.text
    assert "ただじゃおかない" in page.text
    assert "二度と行きません" not in page.text
    assert "<script>alert" not in page.text

    # The same crawl again adds nothing and changes nothing.
    code, out, err = kuchikomi("crawl", "--all", "--format", "json")
    assert code == 0, err
    again = json.loads(out)
    assert sum(listing["reviews_new"] for listing in again["listings"]) == 0
    assert again["classified"] == 0
    code, out, _ = kuchikomi("reviews", "list", "--format", "json")
    assert json.loads(out) == everything
