"""A clinic with a web listing and a Google listing, through `kuchikomi crawl --all`: both go
through the same pipeline (store → classify → bursts) and the same summary."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from kuchikomi.demo.google_fake import FakeLocation, FakeReview, GoogleFake
from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from tests.crawler.conftest import PORTAL_TODAY
from tests.google.conftest import T0, connect, kuchikomi, reviews


def test_google_reviews_are_crawled_classified_and_flagged_beside_web_reviews(
    model_env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(3) + [
        FakeReview(
            "threat",
            "通りすがり",
            1,
            "看護師の田中は患者の個人情報を言いふらしている。住所も知っているから覚悟しておけ。",
            T0 + timedelta(days=30),
        )
    ]
    connection_id, _ = connect(fake)
    with serve(DemoPortal(today=PORTAL_TODAY)) as portal:
        name, url = listing_urls(portal)[0]
        code, _, err = kuchikomi(
            "clinic", "add", "--name", name, "--url", url,
            "--google-location", location.name, "--connection", str(connection_id),
        )  # fmt: skip
        assert code == 0, err

        code, out, err = kuchikomi("crawl", "--all", "--format", "json")

    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "ok"
    web, google = run["listings"]
    assert (web["status"], google["status"]) == ("ok", "ok")
    assert google["url"] == location.maps_uri
    assert google["reviews_new"] == 4
    assert run["classified"] == web["reviews_new"] + 4

    code, out, err = kuchikomi("reviews", "list", "--flagged", "--format", "json")
    assert code == 0, err
    flagged = {review["external_id"]: review for review in json.loads(out)}
    threat = flagged["threat"]
    assert threat["listing_url"] == threat["url"] == location.maps_uri
    assert threat["author"] == "通りすがり"
    assert threat["rating"] == 1
