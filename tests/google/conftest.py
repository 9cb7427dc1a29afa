"""Google's endpoints faked on 127.0.0.1 (kuchikomi.demo.google_fake), with the settings that
point kuchikomi-guard at them, and helpers that go through the user's own commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.demo.google_fake import FakeLocation, FakeReview, GoogleFake, serve, settings_env
from kuchikomi_settings import get_settings

SECRET_KEY = "test-secret-key-8b1d6c0e5f2a4973"
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
ADDRESS = {
    "regionCode": "JP",
    "postalCode": "150-0001",
    "administrativeArea": "東京都",
    "locality": "渋谷区",
    "addressLines": ["神宮前1-2-3"],
}


def kuchikomi(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def reviews(count: int, *, start: int = 1) -> list[FakeReview]:
    """``count`` plain reviews, one a day from T0 (review g-1 oldest)."""
    return [
        FakeReview(
            f"g-{n}",
            f"患者{n}",
            (n % 5) + 1,
            f"{n}回目の受診でした。丁寧に診ていただきました。",
            T0 + timedelta(days=n),
        )
        for n in range(start, start + count)
    ]


@pytest.fixture
def fake(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleFake]:
    """A served fake with one location (さくら内科, no reviews yet) and the settings for it."""
    google_fake = GoogleFake()
    google_fake.add_location("111", "222", "さくら内科クリニック", ADDRESS)
    with serve(google_fake):
        for key, value in settings_env(google_fake).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("KUCHIKOMI_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("KUCHIKOMI_GOOGLE__MAX_RETRY_WAIT", "5")
        get_settings.cache_clear()
        yield google_fake
    get_settings.cache_clear()


@pytest.fixture
def location(fake: GoogleFake) -> FakeLocation:
    return fake.locations[0]


def connect(fake: GoogleFake) -> tuple[int, str]:
    """A connection through `kuchikomi google connect --refresh-token-stdin`: (id, token)."""
    refresh_token = fake.issue_refresh_token()
    code, out, err = kuchikomi("google", "connect", "--refresh-token-stdin", input=refresh_token)
    assert code == 0, err
    return int(out.strip().splitlines()[-1]), refresh_token


def add_google_listing(name: str, location: FakeLocation, connection_id: int) -> int:
    """`kuchikomi clinic add --google-location`; returns the clinic id."""
    code, out, err = kuchikomi(
        "clinic",
        "add",
        "--name",
        name,
        "--google-location",
        location.name,
        "--connection",
        str(connection_id),
    )
    assert code == 0, err
    return int(out.strip())
