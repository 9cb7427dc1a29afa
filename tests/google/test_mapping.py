"""How the Business Profile API's review JSON becomes a stored review (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.google import (
    GoogleError,
    original_text,
    parse_reviews_page,
    retry_after,
    review_item,
    reviews_url,
)

MAPS = "https://maps.google.com/maps?cid=1"


def _review(**fields: object) -> dict[str, object]:
    return {
        "name": "accounts/1/locations/2/reviews/AbC",
        "reviewId": "AbC",
        "reviewer": {"displayName": "山田", "isAnonymous": False},
        "starRating": "FOUR",
        "comment": "丁寧でした",
        "createTime": "2025-03-04T05:06:07.123456789Z",
        "updateTime": "2025-03-05T00:00:00Z",
        **fields,
    }


@pytest.mark.parametrize(
    ("star", "rating"),
    [("ONE", 1.0), ("THREE", 3.0), ("FIVE", 5.0), ("STAR_RATING_UNSPECIFIED", None)],
)
def test_star_ratings_map_to_one_to_five(star: str, rating: float | None) -> None:
    item = review_item(_review(starRating=star), listing_url=MAPS)
    assert item is not None and item.rating == rating


def test_a_review_keeps_google_id_exact_date_and_the_maps_link() -> None:
    item = review_item(_review(), listing_url=MAPS)
    assert item is not None
    assert (item.external_id, item.author, item.text, item.url) == (
        "AbC",
        "山田",
        "丁寧でした",
        MAPS,
    )
    assert item.posted_at == datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    assert item.posted_at_exact
    assert item.posted_at_raw == "2025-03-04T05:06:07.123456789Z"


def test_anonymous_and_rating_only_reviews() -> None:
    item = review_item(
        _review(reviewer={"displayName": "A Google User", "isAnonymous": True}, comment=None),
        listing_url=MAPS,
    )
    assert item is not None
    assert (item.author, item.text, item.rating) == ("匿名", "", 4.0)
    del_comment = _review()
    del del_comment["comment"]
    rating_only = review_item(del_comment, listing_url=MAPS)
    assert rating_only is not None and rating_only.text == ""


def test_a_new_update_time_is_a_new_version_even_with_the_same_words() -> None:
    first = review_item(_review(), listing_url=MAPS)
    again = review_item(_review(), listing_url=MAPS)
    edited = review_item(_review(updateTime="2025-04-01T00:00:00Z"), listing_url=MAPS)
    assert first is not None and again is not None and edited is not None
    assert first.content_hash == again.content_hash != edited.content_hash


@pytest.mark.parametrize(
    "comment",
    [
        "(Translated by Google) Very kind doctor.\n\n(Original)\nとても親切な先生です。",
        "とても親切な先生です。\n\n(Translated by Google)\nVery kind doctor.",
    ],
)
def test_the_reviewers_original_words_are_kept_not_googles_translation(comment: str) -> None:
    assert original_text(comment) == "とても親切な先生です。"


def test_a_page_without_reviews_or_token_is_the_last_one_and_bad_json_is_an_error() -> None:
    page = parse_reviews_page(b"{}", listing_url=MAPS)
    assert (page.reviews, page.next_page_token) == ([], None)
    page = parse_reviews_page(
        json.dumps({"reviews": [_review(), {"comment": "no id"}], "nextPageToken": "t2"}).encode(),
        listing_url=MAPS,
    )
    assert ([r.external_id for r in page.reviews], page.skipped, page.next_page_token) == (
        ["AbC"],
        1,
        "t2",
    )
    with pytest.raises(GoogleError, match="not JSON"):
        parse_reviews_page(b"<html>", listing_url=MAPS)


def test_reviews_are_asked_newest_update_first_fifty_at_a_time() -> None:
    assert reviews_url("https://mybusiness.googleapis.com/", "accounts/1/locations/2", "tok") == (
        "https://mybusiness.googleapis.com/v4/accounts/1/locations/2/reviews"
        "?pageSize=50&orderBy=updateTime%20desc&pageToken=tok"
    )


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert retry_after("7", now=now) == 7.0
    assert retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now=now) == 30.0
    assert retry_after("soon", now=now) is None
    assert retry_after(None, now=now) is None
