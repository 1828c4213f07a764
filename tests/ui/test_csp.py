"""No page breaks its Content-Security-Policy: Chromium visits every page of each role (and the
admin's, the login, password-reset and API docs pages) and the test fails on any violation, whether logged
to the console or raised as a `securitypolicyviolation` event. A control first checks that an
inline style injected into a page is caught, so that a quiet run means a clean one.

Skipped only when /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import UserFactory
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.ui.world import PASSWORD, World, make_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"needs Debian's Chromium at {CHROMIUM}"
    ),
]

# Runs in every page before its own scripts (Playwright injects it outside the page's policy).
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || "?"}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def world(live_server, django_db_serialized_rollback) -> World:
    return make_world()


class Visitor:
    """A browser context of one user, recording CSP complaints of every page it opens."""

    def __init__(self, chromium: Any, base: str, username: str | None) -> None:
        self.base = base
        self.context = chromium.new_context()
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", self._console)
        if username:
            self.page.goto(f"{base}/login/")
            self.page.fill("#id_username", username)
            self.page.fill("#id_password", PASSWORD)
            self.page.click("button[type=submit]")
            self.page.wait_for_load_state()

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.console.append(text)

    def visit(self, path: str) -> list[str]:
        """Open the page; the violations it raised (console and events)."""
        self.console.clear()
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        assert self.page.url == self.base + path, f"{path} redirected to {self.page.url}"
        self.page.wait_for_load_state("networkidle")
        events = self.page.evaluate("window.__cspViolations")
        return [*self.console, *events]


def pages_of(world: World) -> dict[str, list[str]]:
    ada = world.lead(first_name="Ada", last_name="Lovelace", score=91)
    grace = world.lead(first_name="Grace", last_name="Hopper", score=84)
    alan = world.lead(first_name="Alan", last_name="Turing", score=77)
    pending = world.promote(ada)
    asked = world.ask(world.promote(grace))
    returned = world.promote(alan)
    world.give_back(returned, reason="not-ready", note="Budget next year.")
    accepted = world.accept(world.promote(world.lead(first_name="Kat", last_name="Johnson")))
    cold = world.lead(first_name="Cold", last_name="Lead", score=22, ready_for_sales=False)
    ready = world.lead(first_name="Hedy", last_name="Lamarr", score=88)
    marketer = [
        "/leads/",
        f"/leads/{ada.pk}/",
        f"/leads/{cold.pk}/",
        f"/leads/{ready.pk}/promote/",
        "/questions/",
        "/returned/",
        "/feedback/",
        "/api/docs/",
        "/api/redoc/",
    ]
    rep = [
        "/queue/",
        "/accepted/",
        f"/handoffs/{pending.pk}/",
        f"/handoffs/{asked.pk}/",
        f"/handoffs/{accepted.pk}/",
    ]
    manager = [
        "/dashboard/",
        "/manager/queue/",
        "/leads/",
        "/questions/",
        "/returned/",
        "/feedback/",
        f"/handoffs/{pending.pk}/",
        "/admin/",
    ]
    admin = UserFactory(username="ada.admin", is_staff=True, is_superuser=True)
    superuser = [
        "/admin/",
        "/admin/handoff/handoff/",
        f"/admin/handoff/handoff/{pending.pk}/change/",
        "/admin/leads/lead/",
        f"/admin/leads/lead/{ada.pk}/change/",
    ]
    return {
        world.marketer.username: marketer,
        world.rep.username: rep,
        world.manager.username: manager,
        admin.username: superuser,
        "": ["/login/", "/password-reset/"],
    }


def test_an_injected_inline_style_is_caught_as_a_violation(chromium, live_server, world):
    visitor = Visitor(chromium, live_server.url, world.rep.username)
    assert visitor.visit("/queue/") == []
    visitor.page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">injected</p>')"
    )
    visitor.page.wait_for_timeout(200)
    assert visitor.page.evaluate("window.__cspViolations")


def test_no_page_of_any_role_violates_the_content_security_policy(chromium, live_server, world):
    found: dict[str, list[str]] = {}
    visited = 0
    for username, paths in pages_of(world).items():
        visitor = Visitor(chromium, live_server.url, username or None)
        for path in paths:
            violations = visitor.visit(path)
            visited += 1
            if violations:
                found[f"{username or 'anonymous'} {path}"] = violations
        visitor.context.close()
    assert found == {}, "\n".join(f"{where}: {v}" for where, v in found.items())
    print(f"\n[csp] {visited} pages, no violation")
