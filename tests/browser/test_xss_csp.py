"""Hostile review text renders as text and runs nothing; the CSP stops inline script; a form
posted without the CSRF token is refused — in a real browser against the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Clinic
from tests.api.factories import make_clinic, make_review
from tests.browser.conftest import LogIn, watch_of

SCRIPT = "<script>window.__pwned = 'script'; alert('script')</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\">"
HOSTILE = f"院長は最低{SCRIPT}{IMG}"


@pytest.fixture
def hostile_review(session: Session) -> Iterator[int]:
    clinic = make_clinic(session, "<b>あおば</b>医院")
    review = make_review(
        session,
        clinic.listings[0],
        text=HOSTILE,
        author="<svg onload=alert('author')>",
        probability=0.93,
        category="insult",
        reasons=[IMG],
        url="javascript:alert('link')",
    )
    yield review.id


def assert_nothing_ran(page: Page) -> None:
    watch = watch_of(page)
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert page.evaluate("() => window.__pwned") is None
    # No element came out of the review's text: only our own same-origin scripts, no <img>
    # pointing at "x", no SVG from the author field, no javascript: link.
    scripts = page.evaluate("() => [...document.scripts].map(s => s.getAttribute('src'))")
    assert all(src and src.startswith("/static/") for src in scripts), scripts
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("svg[onload]").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0


def test_hostile_review_renders_as_text_in_queue_and_review_page(
    page: Page, log_in: LogIn, hostile_review: int
) -> None:
    log_in("reviewer")

    page.goto("/")
    card = page.locator("article", has_text="院長は最低")
    expect(card).to_have_count(1)
    # The markup is shown to staff literally, as the poster typed it.
    expect(card).to_contain_text(SCRIPT)
    expect(card).to_contain_text(IMG)
    expect(card.get_by_role("link", name="<b>あおば</b>医院")).to_be_visible()
    assert_nothing_ran(page)

    page.goto(f"/reviews/{hostile_review}")
    expect(page.locator("main")).to_contain_text(SCRIPT)
    expect(page.locator("main")).to_contain_text("<svg onload=alert('author')>")
    assert_nothing_ran(page)
    # Nothing had to be blocked: the text was never markup to begin with.
    assert watch_of(page).csp_violations == []


def test_csp_blocks_inline_script_and_inline_handlers(page: Page, log_in: LogIn) -> None:
    log_in("reviewer")
    page.goto("/")
    csp = page.evaluate(
        "async () => (await fetch(location.href)).headers.get('content-security-policy')"
    )
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp

    # What an escaping mistake would amount to: markup injected into the page.
    page.evaluate(
        """() => {
            const s = document.createElement('script');
            s.textContent = "window.__inline = 'ran'";
            document.body.appendChild(s);
            const b = document.createElement('button');
            b.id = 'injected';
            b.setAttribute('onclick', "window.__handler = 'ran'");
            b.textContent = 'x';
            document.body.appendChild(b);
            document.body.insertAdjacentHTML(
                'beforeend', '<img src="/nope" onerror="window.__onerror = 1">');
        }"""
    )
    page.locator("#injected").click()
    page.wait_for_timeout(300)
    assert page.evaluate("() => [window.__inline, window.__handler, window.__onerror]") == [
        None,
        None,
        None,
    ]
    violations = watch_of(page).csp_violations
    assert any("inline script" in v for v in violations), violations
    assert any("inline event handler" in v for v in violations), violations
    # Our own script file is still allowed (the policy is not simply "no script").
    assert page.evaluate("() => typeof document.querySelector") == "function"


def test_form_post_without_csrf_token_is_refused(
    page: Page, log_in: LogIn, session: Session, live_server: str
) -> None:
    log_in("admin")
    page.goto("/clinics")
    # A form like an attacker's page would submit with the staff member's cookie, but without
    # the session's CSRF token.
    with page.expect_navigation() as navigation:
        page.evaluate(
            """(action) => {
            const f = document.createElement('form');
            f.method = 'post';
            f.action = action;
            for (const [k, v] of [['name', '偽の医療機関'], ['urls', 'https://evil.example/']]) {
                const i = document.createElement('input');
                i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f);
            f.submit();
        }""",
            "/api/v1/clinics",
        )
    response = navigation.value
    assert response is not None and response.status == 403
    assert "CSRF token missing or wrong" in page.content()
    assert session.scalar(select(func.count()).select_from(Clinic)) == 0

    # The same request with the token, as the app's own script would send it, is accepted:
    # the refusal above was the missing token, not the route.
    status = page.evaluate(
        """async () => {
            const me = await (await fetch('/api/v1/me')).json();
            const r = await fetch('/api/v1/clinics', {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
                body: JSON.stringify({name: '本物の医療機関', urls: ['https://reviews.example.jp/c/1']}),
            });
            return r.status;
        }"""
    )
    assert status == 201
    session.expire_all()
    assert session.scalars(select(Clinic.name)).all() == ["本物の医療機関"]
