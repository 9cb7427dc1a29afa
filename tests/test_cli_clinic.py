"""Registering clinics from the command line: ids printed, bad URLs refused with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from models import Clinic, Listing

runner = CliRunner()


def test_add_prints_id_and_list_shows_listings(session: Session) -> None:
    result = runner.invoke(
        app,
        [
            "clinic",
            "add",
            "--name",
            "さくら内科",
            "--url",
            "https://example.jp/c/1",
            "--url",
            "https://example.jp/c/2",
        ],
    )
    assert result.exit_code == 0, result.output
    clinic_id = int(result.stdout.strip())

    listed = runner.invoke(app, ["clinic", "list", "--format", "json"])
    assert listed.exit_code == 0
    clinics = json.loads(listed.stdout)
    assert [c["id"] for c in clinics] == [clinic_id]
    assert clinics[0]["name"] == "さくら内科"
    assert [item["url"] for item in clinics[0]["listings"]] == [
        "https://example.jp/c/1",
        "https://example.jp/c/2",
    ]
    assert all(item["source"] == "schema_org" for item in clinics[0]["listings"])


@pytest.mark.parametrize(
    "bad_url",
    [
        "not a url",
        "ftp://example.jp/reviews",
        "javascript:alert(1)",
        "http:///no-host",
        "http://127.0.0.1:8000/clinic/1",
        "http://10.1.2.3/clinic",
        "http://[::1]/clinic",
        "http://localhost/clinic",
    ],
)
def test_bad_urls_are_refused_and_nothing_is_stored(
    session: Session, monkeypatch: pytest.MonkeyPatch, bad_url: str
) -> None:
    monkeypatch.setenv("KUCHIKOMI_ALLOW_PRIVATE_HOSTS", "false")
    from kuchikomi_settings import get_settings

    get_settings.cache_clear()
    result = runner.invoke(
        app, ["clinic", "add", "--name", "x", "--url", "https://example.jp/ok", "--url", bad_url]
    )
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert session.scalar(select(func.count()).select_from(Clinic)) == 0
    assert session.scalar(select(func.count()).select_from(Listing)) == 0


def test_duplicate_listing_is_refused(session: Session) -> None:
    first = runner.invoke(app, ["clinic", "add", "--name", "a", "--url", "https://example.jp/c/9"])
    assert first.exit_code == 0
    again = runner.invoke(app, ["clinic", "add", "--name", "b", "--url", "https://EXAMPLE.jp/c/9"])
    assert again.exit_code == 2
    assert "already registered" in again.stderr
    assert session.scalar(select(func.count()).select_from(Clinic)) == 1


def test_commands_refuse_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kuchikomi_settings import get_settings
    from models.db import reset_engine

    monkeypatch.setenv("KUCHIKOMI_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    get_settings.cache_clear()
    reset_engine()
    result = runner.invoke(app, ["clinic", "list"])
    assert result.exit_code == 1
    assert "kuchikomi db upgrade" in result.stderr
    get_settings.cache_clear()
    reset_engine()
