"""``kuchikomi sites list`` and ``sites check``: how an operator writes and fixes a profile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crawler.sites import SHIPPED_DIR
from kuchikomi.cli import app
from kuchikomi_settings import get_settings

runner = CliRunner()

LIST_PAGE = """<html><head><meta charset="utf-8">
<link rel="canonical" href="https://www.qlife.jp/kuchikomi_list_123_1"></head><body>
<section class="kuchikomi_list"><h3><a href="/kuchikomi_123_9001">丁寧な説明</a></h3></section>
<section class="kuchikomi_list"><h3><a href="https://www.qlife.jp/kuchikomi_123_9000">待ち時間</a></h3>
 <a href="/kuchikomi_list_123_1">一覧へ</a></section>
<section class="kuchikomi_list"><h3>リンクのない口コミ</h3></section>
</body></html>"""

DETAIL_PAGE = """<html><head><meta charset="Shift_JIS"><title>口コミ</title></head><body>
<section class="kuchikomi_body"><h2>丁寧</h2><p>髙橋先生の説明が丁寧でした。<br>また伺います。</p>
<p>参考になった</p><small>2024年3月5日投稿</small></section></body></html>"""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KUCHIKOMI_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_check_a_saved_list_page(data_dir: Path) -> None:
    saved = data_dir / "list.html"
    saved.write_text(LIST_PAGE, "utf-8")

    result = runner.invoke(app, ["sites", "check", "qlife", str(saved), "--format", "json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "external_id": "123_9001",
            "author": None,
            "rating": None,
            "posted_at": None,
            "text": None,
            "url": "https://www.qlife.jp/kuchikomi_123_9001",
        },
        {
            "external_id": "123_9000",
            "author": None,
            "rating": None,
            "posted_at": None,
            "text": None,
            "url": "https://www.qlife.jp/kuchikomi_123_9000",
        },
    ]
    # The next page and the skipped block are reported beside the reviews, on stderr.
    assert "next page: https://www.qlife.jp/kuchikomi_list_123_2" in result.stderr
    assert "skipped 1 of 3 review blocks" in result.stderr
    assert "no link to the review's page" in result.stderr


def test_check_a_saved_review_page_in_shift_jis(data_dir: Path) -> None:
    saved = data_dir / "review.html"
    saved.write_bytes(DETAIL_PAGE.encode("cp932"))

    result = runner.invoke(
        app,
        [
            "sites",
            "check",
            "qlife",
            str(saved),
            "--url",
            "https://www.qlife.jp/kuchikomi_123_9001",
            "--format",
            "json",
        ],
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "external_id": "123_9001",
            "author": None,
            "rating": None,
            "posted_at": "2024-03-04T15:00:00+00:00",
            "text": "髙橋先生の説明が丁寧でした。\nまた伺います。",
            "url": "https://www.qlife.jp/kuchikomi_123_9001",
        }
    ]
    assert "read as cp932" in result.stderr


def test_operator_profile_overrides_the_shipped_one(data_dir: Path) -> None:
    saved = data_dir / "list.html"
    saved.write_text(LIST_PAGE.replace("kuchikomi_list", "review_item"), "utf-8")
    assert runner.invoke(app, ["sites", "check", "qlife", str(saved)]).exit_code == 1

    # The operator fixes the block selector in a copy of the profile: no code involved.
    local = data_dir / "sites" / "qlife.toml"
    local.parent.mkdir()
    local.write_text(
        (SHIPPED_DIR / "qlife.toml")
        .read_text("utf-8")
        .replace('block = "section.kuchikomi_list"', 'block = "section.review_item"'),
        "utf-8",
    )
    result = runner.invoke(app, ["sites", "check", "qlife", str(saved), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2

    listed = runner.invoke(app, ["sites", "list", "--format", "json"])
    assert listed.exit_code == 0
    profiles = {p["name"]: p for p in json.loads(listed.stdout)}
    assert profiles["qlife"]["origin"] == "local" and profiles["qlife"]["verified"] == "never"
    assert profiles["qlife"]["hosts"] == ["qlife.jp"]
    assert profiles["schema_org"]["origin"] == "shipped"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hosts = 'qlife.jp'\n[reviews]\nblock = 3\n", "reviews.block: expected str"),
        ("[reviews]\nblock = 'section'\ndetail_link = 'a::attr(href'\n", "reviews.detail_link"),
        ("extract = 'html'\n[reviews]\nblock = '['\n", "reviews.block: not a valid selector"),
        ("[pagination]\npage_number = '_(\\d+)'\n", "pagination.page_number: needs a group"),
        ("title = 'x'\nhost = ['a.jp']\n", "host: unknown key"),
        ("title = 'x\n", "not valid TOML"),
    ],
)
def test_broken_profile_names_file_and_key(data_dir: Path, content: str, message: str) -> None:
    local = data_dir / "sites" / "mysite.toml"
    local.parent.mkdir()
    local.write_text(content, "utf-8")

    result = runner.invoke(app, ["sites", "check", "mysite", str(local)])

    assert result.exit_code == 2
    error = " ".join(result.stderr.split())
    assert str(local) in error and message in error


def test_unknown_profile_and_bad_usage(data_dir: Path) -> None:
    saved = data_dir / "x.html"
    saved.write_text("<html></html>", "utf-8")
    unknown = runner.invoke(app, ["sites", "check", "caloo", str(saved)])
    assert unknown.exit_code == 2 and "no site profile 'caloo'" in unknown.stderr
    missing = runner.invoke(app, ["sites", "check", "qlife", str(data_dir / "none.html")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    empty = runner.invoke(app, ["sites", "check", "qlife", str(saved), "--format", "json"])
    assert empty.exit_code == 1 and json.loads(empty.stdout) == []
    assert "no review blocks found" in empty.stderr
