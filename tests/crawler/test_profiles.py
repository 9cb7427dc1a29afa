"""The html profile engine on its own: an operator's profile with reviews inline on the list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.dates import JST
from crawler.extract import extract_page
from crawler.sites import SCHEMA_ORG, ProfileError, parse_profile, profile_for_url

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

PROFILE = """
title = "例の口コミサイト"
hosts = ["reviews.example.jp"]
verified = "2025-06-01"

[pagination]
next = ["a.pager-next::attr(href)"]

[reviews]
block = "div.review"
required = ["text", "rating"]
date_format = "%Y.%m.%d"
rating_scale = [0, 10]

[fields]
id = "::attr(data-review-id)"
author = ".name"
rating = { select = ".score", regex = '(?P<value>\\d+)点' }
date = { select = ".meta", regex = '(\\d{4}\\.\\d{2}\\.\\d{2})' }
title = "h3"
text = ".body"
url = "a.permalink::attr(href)"
"""

PAGE = """<html><body>
<div class="review" data-review-id="r-2"><h3>説明が丁寧</h3><span class="name">山田</span>
 <span class="score">10点</span><span class="meta">投稿 2025.05.30</span>
 <div class="body">先生は<br>丁寧でした。<script>alert(1)</script></div>
 <a class="permalink" href="/r/2">この口コミ</a></div>
<div class="review" data-review-id="r-1"><span class="score">0点</span>
 <div class="body">待ち時間が長い</div></div>
<div class="review" data-review-id="r-0"><div class="body">点数のない口コミ</div></div>
<a class="pager-next" href="/clinic/9?page=2">次へ</a>
<a class="pager-next" href="https://elsewhere.example/">外部</a>
</body></html>"""


@pytest.fixture
def profile_path(tmp_path: Path) -> Path:
    path = tmp_path / "example_site.toml"
    path.write_text(PROFILE, "utf-8")
    return path


def test_inline_reviews_with_every_field(profile_path: Path) -> None:
    profile = parse_profile(profile_path, origin="local")
    url = "https://reviews.example.jp/clinic/9"

    page = extract_page(PAGE, page_url=url, listing_url=url, site=profile, now=NOW)

    assert [r.external_id for r in page.reviews] == ["r-2", "r-1"]
    first, second = page.reviews
    assert (
        first.text == "説明が丁寧\n先生は\n丁寧でした。"
    )  # title first, <br> kept, script dropped
    assert (first.author, first.rating) == ("山田", 5.0)  # 10 of 0–10 is 5 of 1–5
    assert first.posted_at == datetime(2025, 5, 30, tzinfo=JST) and first.posted_at_exact
    assert first.url == "https://reviews.example.jp/r/2"
    assert (second.rating, second.author, second.posted_at) == (1.0, None, None)
    # The third block lacks a required rating: skipped and counted, not a crash.
    assert (page.blocks, page.skipped) == (3, 1)
    assert "missing rating" in page.problems[0]
    assert page.next_url == "https://reviews.example.jp/clinic/9?page=2"


def test_profile_is_picked_by_host(profile_path: Path) -> None:
    profile = parse_profile(profile_path, origin="local")
    profiles = {"example_site": profile, "schema_org": SCHEMA_ORG}
    assert profile_for_url("https://www.reviews.example.jp/x", profiles) is profile
    assert profile_for_url("https://other.example.jp/x", profiles).name == "schema_org"


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ("rating_scale = [0, 10]", "rating_scale = [10, 0]"),
        ('text = ".body"', 'text = { regex = "(" }'),
        ('required = ["text", "rating"]', 'required = ["stars"]'),
        ('hosts = ["reviews.example.jp"]', 'hosts = ["https://reviews.example.jp/"]'),
    ],
)
def test_mistakes_name_the_key(profile_path: Path, bad: str, key: str) -> None:
    profile_path.write_text(PROFILE.replace(bad, key), "utf-8")
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile_path, origin="local")
    message = str(caught.value)
    assert message.startswith(f"{profile_path}: ")
    expected = {
        "rating_scale": "reviews.rating_scale",
        "text": "fields.text.regex",
        "required": "reviews.required",
        "hosts": "hosts",
    }[bad.split(" ")[0]]
    assert f": {expected}: " in message
