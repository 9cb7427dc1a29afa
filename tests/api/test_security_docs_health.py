"""Security headers, the offline API docs, and the health check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kuchikomi_settings import get_settings
from models.db import reset_engine


@pytest.fixture
def client(admin_client: TestClient) -> TestClient:
    """These tests are not about logins: they run as a logged-in administrator (see conftest)."""
    return admin_client


@pytest.mark.parametrize("path", ["/", "/clinics", "/api/v1/reviews", "/healthz", "/docs"])
def test_every_response_carries_a_strict_csp(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/clinics", "/api/v1/reviews", "/api/v1/bursts", "/login"])
def test_private_answers_are_never_cached(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_static_assets_may_be_cached(client: TestClient) -> None:
    (stylesheet,) = re.findall(r'href="(/static/[^"]+\.css)"', client.get("/").text)[:1]
    response = client.get(stylesheet)

    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")


def test_a_server_error_carries_the_same_security_headers(env: Path) -> None:
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")

    assert response.status_code == 500
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_external_resources(client: TestClient) -> None:
    for path in ("/", "/clinics", "/docs"):
        page = client.get(path).text
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag, (path, tag)
        # Scripts and stylesheets come from this server (offline machines, CSP 'self').
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", page):
            assert not re.search(r'(src|href)="(https?:)?//', tag), (path, tag)


def test_docs_work_offline_from_our_own_assets(client: TestClient) -> None:
    page = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert "/static/swagger-ui/swagger-ui-bundle.js" in assets
    assert "/static/docs.js" in assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
    assert 'data-openapi-url="/openapi.json"' in page

    spec = client.get("/openapi.json").json()
    assert {"/api/v1/clinics", "/api/v1/reviews", "/api/v1/reviews/{review_id}", "/healthz"} <= set(
        spec["paths"]
    )
    assert "/" not in spec["paths"]  # the HTML pages are not part of the API
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/clinics"])


def test_health_is_ok_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_is_503_without_a_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUCHIKOMI_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    get_settings.cache_clear()
    reset_engine()
    try:
        with TestClient(create_app()) as client:
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["status"] == "error"
    finally:
        get_settings.cache_clear()
        reset_engine()
