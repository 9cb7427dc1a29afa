"""Connecting a Google account, listing its locations and registering one, by the commands."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.demo.google_fake import GoogleFake
from kuchikomi.services.google import REDIRECT_URI
from kuchikomi_settings import get_settings
from models import GoogleConnection, Listing
from models.crypto import decrypt_secret
from tests.google.conftest import connect, kuchikomi


def test_connect_with_a_refresh_token_stores_it_encrypted_and_prints_the_id(
    session: Session, fake: GoogleFake
) -> None:
    refresh_token = fake.issue_refresh_token()

    code, out, err = kuchikomi(
        "google",
        "connect",
        "--refresh-token-stdin",
        "--label",
        "clinic@example.jp",
        input=refresh_token + "\n",
    )

    assert code == 0, err
    connection_id = int(out.strip().splitlines()[-1])
    assert fake.hits["/token"] == 1  # checked once against the token URI
    assert refresh_token not in out + err
    connection = session.get(GoogleConnection, connection_id)
    assert connection is not None
    assert (connection.status, connection.label) == ("ok", "clinic@example.jp")
    assert refresh_token not in connection.refresh_token_encrypted
    assert decrypt_secret(connection.refresh_token_encrypted) == refresh_token


def test_interactive_connect_prints_the_consent_url_and_exchanges_the_pasted_address(
    session: Session, fake: GoogleFake
) -> None:
    code_from_google = fake.authorization_code()
    # The operator pastes the whole address the browser was sent to; state is checked only
    # when present, so here just the code as Google put it in the address.
    pasted = f"{REDIRECT_URI}?code={code_from_google}&scope=https://www.googleapis.com/auth/business.manage"

    code, out, err = kuchikomi("google", "connect", input=pasted + "\n")

    assert code == 0, err
    lines = out.strip().splitlines()
    consent = next(line for line in lines if line.startswith(fake.base_url + "/auth?"))
    query = parse_qs(urlsplit(consent).query)
    assert query["client_id"] == [fake.client_id]
    assert query["scope"] == ["https://www.googleapis.com/auth/business.manage"]
    assert query["access_type"] == ["offline"]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["code_challenge_method"] == ["S256"]
    connection_id = int(lines[-1])
    connection = session.get(GoogleConnection, connection_id)
    assert connection is not None
    assert decrypt_secret(connection.refresh_token_encrypted) in fake.refresh_tokens
    assert fake.client_secret not in out + err


def test_a_wrong_code_or_revoked_token_is_refused_with_nothing_stored(
    session: Session, fake: GoogleFake
) -> None:
    code, _, err = kuchikomi("google", "connect", input="4/not-a-code\n")
    assert code == 2
    assert "invalid_grant" in err

    revoked = fake.issue_refresh_token()
    fake.revoke(revoked)
    code, _, err = kuchikomi("google", "connect", "--refresh-token-stdin", input=revoked)
    assert code == 2
    assert "refused this refresh token" in err
    assert revoked not in err
    assert session.scalars(select(GoogleConnection)).all() == []


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("KUCHIKOMI_SECRET_KEY", "KUCHIKOMI_SECRET_KEY"),
        ("KUCHIKOMI_GOOGLE__CLIENT_ID", "KUCHIKOMI_GOOGLE__CLIENT_ID"),
        ("KUCHIKOMI_GOOGLE__CLIENT_SECRET", "KUCHIKOMI_GOOGLE__CLIENT_SECRET"),
    ],
)
def test_connect_without_the_secret_key_or_oauth_client_is_bad_usage(
    fake: GoogleFake, monkeypatch: pytest.MonkeyPatch, variable: str, named: str
) -> None:
    monkeypatch.delenv(variable)
    get_settings.cache_clear()

    code, out, err = kuchikomi(
        "google", "connect", "--refresh-token-stdin", input=fake.issue_refresh_token()
    )

    assert code == 2
    assert named in err
    assert fake.hits["/token"] == 0  # refused before anything was sent to Google


def test_locations_lists_every_location_of_every_page(fake: GoogleFake) -> None:
    fake.locations_page_size = 1
    fake.add_location("111", "223", "さくら内科 駅前分院", {"postalCode": "150-0002"})
    connection_id, _ = connect(fake)

    code, out, err = kuchikomi("google", "locations", str(connection_id), "--format", "json")

    assert code == 0, err
    assert json.loads(out) == [
        {
            "name": "accounts/111/locations/222",
            "title": "さくら内科クリニック",
            "address": "〒150-0001 東京都 渋谷区 神宮前1-2-3",
        },
        {
            "name": "accounts/111/locations/223",
            "title": "さくら内科 駅前分院",
            "address": "〒150-0002",
        },
    ]
    assert fake.hits["/v1/accounts/111/locations"] == 2


def test_locations_explains_a_project_without_api_access(fake: GoogleFake) -> None:
    connection_id, _ = connect(fake)
    fake.denied = True

    code, _, err = kuchikomi("google", "locations", str(connection_id))

    assert code == 1
    assert "Business Profile API access" in err
    code, _, err = kuchikomi("google", "locations", "999")
    assert code == 2
    assert "no Google connection with id 999" in err


def test_clinic_add_registers_a_google_location_beside_a_web_listing(
    session: Session, fake: GoogleFake
) -> None:
    connection_id, _ = connect(fake)

    code, out, err = kuchikomi(
        "clinic",
        "add",
        "--name",
        "さくら内科",
        "--url",
        "https://example.jp/clinics/1/reviews",
        "--google-location",
        "accounts/111/locations/222",
        "--connection",
        str(connection_id),
    )

    assert code == 0, err
    code, out, _ = kuchikomi("clinic", "list", "--format", "json")
    (clinic,) = json.loads(out)
    assert [(item["source"], item["url"]) for item in clinic["listings"]] == [
        ("schema_org", "https://example.jp/clinics/1/reviews"),
        ("google_business_profile", "https://maps.google.com/maps?cid=222"),
    ]
    google_listing = session.scalars(
        select(Listing).where(Listing.source == "google_business_profile")
    ).one()
    assert google_listing.google_location == "accounts/111/locations/222"
    assert google_listing.google_connection_id == connection_id

    # The same location cannot be watched twice.
    code, _, err = kuchikomi(
        "clinic",
        "add",
        "--name",
        "別名",
        "--google-location",
        "accounts/111/locations/222",
        "--connection",
        str(connection_id),
    )
    assert code == 2
    assert "already registered" in err


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        (
            ["--google-location", "locations/222", "--connection", "{id}"],
            "not a Google location",
            2,
        ),
        (["--google-location", "accounts/111/locations/222"], "needs --connection", 2),
        (
            ["--google-location", "accounts/111/locations/222", "--connection", "{other}"],
            "no Google connection",
            2,
        ),
        # Google has no such location for this account: said at registration, not at first crawl.
        (["--google-location", "accounts/111/locations/999", "--connection", "{id}"], "404", 2),
    ],
)
def test_clinic_add_refuses_a_bad_google_location(
    session: Session, fake: GoogleFake, args: list[str], message: str, exit_code: int
) -> None:
    connection_id, _ = connect(fake)
    args = [a.format(id=connection_id, other=connection_id + 100) for a in args]

    code, _, err = kuchikomi("clinic", "add", "--name", "さくら内科", *args)

    assert code == exit_code
    assert message in err
    assert session.scalars(select(Listing)).all() == []


def test_an_address_from_another_consent_is_refused(session: Session, fake: GoogleFake) -> None:
    code_from_google = fake.authorization_code()

    code, _, err = kuchikomi(
        "google", "connect", input=f"{REDIRECT_URI}?state=forged&code={code_from_google}\n"
    )

    assert code == 2
    assert "state does not match" in err
    assert fake.hits["/token"] == 0
    assert session.scalars(select(GoogleConnection)).all() == []


def test_locations_with_a_revoked_token_marks_the_connection_for_reconnecting(
    session: Session, fake: GoogleFake
) -> None:
    connection_id, refresh_token = connect(fake)
    fake.revoke(refresh_token)

    code, _, err = kuchikomi("google", "locations", str(connection_id))

    assert code == 1
    assert f"kuchikomi google connect --connection {connection_id}" in err
    session.expire_all()
    connection = session.get(GoogleConnection, connection_id)
    assert connection is not None and connection.status == "needs_reconnect"
