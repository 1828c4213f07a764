"""The handoff loop in a real browser: Playwright driving Debian's Chromium against the live
server (pytest-django's `live_server`, a real HTTP server on the test database).

A marketer finds a ready lead and promotes it (seeing the preview); the rep sees it with its
ticking countdown and returns it (the note-required case shows the field error first); the
marketer acknowledges it in the returned queue; a rep asks marketing a question, the clock
pauses, the marketer answers and it resumes with the time that was left; a second lead is
accepted and its first touch logged; a manager reassigns a handoff a rep is looking at and the
rep's click gets the clear conflict message; the manager's dashboard shows the numbers that
moved. Every page is photographed at 1280 and 390 pixels wide into var/screenshots/.

Runs on SQLite (the live server shares the in-memory test database) and on PostgreSQL.
Skipped only when /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from feedback.models import ReturnFeedback
from handoff.models import Handoff, TeamMembership
from handoff.selectors import accept_clock, clock_label
from handoff.states import Status
from leads.models import EventKind
from tests.ui.world import PASSWORD, World, make_world

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
WIDTHS = (1280, 390)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
    ),
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread; Django refuses ORM calls
    # from a thread with a running loop unless told the caller is synchronous (it is: the
    # test waits for each browser step before touching the database).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def world(live_server, django_db_serialized_rollback) -> World:
    # Serialized rollback puts back the rows the data migrations made (roles, reasons) after
    # this transactional test flushes the tables, for the tests that run after it.
    return make_world()


class Person:
    """One logged-in browser context (its own cookies), photographing the pages it visits."""

    def __init__(self, chromium: Any, base: str, user: Any = None) -> None:
        self.base = base
        self.context = chromium.new_context(viewport={"width": WIDTHS[0], "height": 900})
        self.page = self.context.new_page()
        if user is not None:
            self.log_in(user.username, PASSWORD)

    def log_in(self, username: str, password: str) -> None:
        if "/login/" not in self.page.url:
            self.page.goto(f"{self.base}/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def shoot(self, label: str) -> None:
        """A full-page screenshot at each width (the page is reloaded at each, as a phone would
        load it); the viewport goes back to the desktop width afterwards."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.wait_for_timeout(150)
            self.page.screenshot(path=str(SHOTS / f"{label}-{width}.png"), full_page=True)
            # Nothing may push the page wider than the screen (a wide table scrolls in its box).
            overflow = self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{label} at {width} px is {overflow} px wider than the screen"
        self.page.set_viewport_size({"width": WIDTHS[0], "height": 900})

    def flash(self) -> str:
        return self.page.locator(".messages").inner_text()


def clock_seconds(page: Any, scope: str = "") -> float:
    return float(page.locator(f"{scope} [data-clock]").first.get_attribute("data-business-seconds"))


def test_the_handoff_loop_in_a_real_browser(chromium, live_server, world):
    from playwright.sync_api import expect

    ada = world.lead(first_name="Ada", last_name="Lovelace", company="Analytical Engines", score=91)
    world.event(ada, EventKind.DEMO_REQUEST, is_high_intent=True)
    world.event(ada, EventKind.PRICING_PAGE_VIEW, is_high_intent=True)
    grace = world.lead(first_name="Grace", last_name="Hopper", company="Compilers Inc", score=84)
    alan = world.lead(first_name="Alan", last_name="Turing", company="Bletchley Labs", score=77)
    world.lead(first_name="Cold", last_name="Lead", score=22, ready_for_sales=False)

    # --- marketing finds a ready lead and promotes it, seeing where it will go ----------------
    mia = Person(chromium, live_server.url, world.marketer)
    page = mia.page
    expect(page).to_have_url(re.compile(r"/leads/$"))
    expect(page.locator("table.leads tbody tr").first).to_contain_text("Ada Lovelace")
    mia.shoot("01-marketer-lead-list")
    page.fill("#f-q", "Lovelace")
    page.click("button:has-text('Filter')")
    expect(page.locator("table.leads tbody tr")).to_have_count(1)
    page.click("text=Ada Lovelace")
    expect(page.locator("h1")).to_have_text("Ada Lovelace")
    expect(page.locator(".timeline").first).to_contain_text("Demo requested")
    mia.shoot("02-marketer-lead-page")
    page.click("a:has-text('Promote to sales')")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Inside Sales")
    expect(preview).to_contain_text("Rob Rep")
    expect(preview).to_contain_text("Standard")
    expect(preview.locator(".deadline")).to_contain_text("UTC")
    page.fill("#id_note", "Asked for a demo and read the pricing page twice this week.")
    mia.shoot("03-marketer-promote-preview")
    page.click("button:has-text('Promote to sales')")
    expect(page.locator(".messages")).to_contain_text(
        "Promoted to sales: Ada Lovelace went to Rob Rep"
    )
    ada_handoff = Handoff.objects.get(lead=ada)
    assert ada_handoff.assigned_to == world.rep and ada_handoff.status == Status.PENDING

    # The list's one-click Promote button leads to the same page for the second lead.
    mia.go("/leads/?q=Hopper")
    page.click("table.leads a:has-text('Promote')")
    page.fill("#id_note", "Downloaded the compiler benchmark and asked about pricing.")
    page.click("button:has-text('Promote to sales')")
    expect(page.locator(".messages")).to_contain_text("Grace Hopper went to Rob Rep")
    alan_handoff = world.promote(alan)

    # --- the rep sees it with a ticking countdown and returns it with a reason ----------------
    rob = Person(chromium, live_server.url, world.rep)
    page = rob.page
    expect(page).to_have_url(re.compile(r"/queue/$"))
    row = page.locator(f"#h-{ada_handoff.pk}")
    expect(row).to_contain_text("Ada Lovelace")
    label = row.locator(".clock-label")
    expect(label).to_contain_text(re.compile(r"^[45]\dm \d\ds left$|^1h 00m left$"))
    first = label.inner_text()
    page.wait_for_timeout(2100)
    assert label.inner_text() != first, "the countdown should tick between refreshes"
    rob.shoot("04-rep-my-queue")

    page.click(f"#h-{ada_handoff.pk} a:has-text('Open')")
    expect(page.locator(".packet")).to_contain_text("read the pricing page twice")
    expect(page.locator(".big-clock")).to_contain_text("left")
    rob.shoot("05-rep-handoff-packet")
    page.click("summary:has-text('Return to marketing')")
    page.select_option("#return select[name=reason]", "bad-data")
    page.click("#return button:has-text('Return to marketing')")
    expect(page.locator("#note-error")).to_have_text(
        "“Bad contact data” needs a note saying what was wrong."
    )
    expect(page.locator("#return select[name=reason]")).to_have_value("bad-data")
    rob.shoot("06-rep-return-note-required")
    assert Handoff.objects.get(pk=ada_handoff.pk).status == Status.PENDING
    page.fill("#return textarea[name=note]", "The phone number is the switchboard.")
    page.click("#return button:has-text('Return to marketing')")
    expect(page.locator(".messages")).to_contain_text("Returned Ada Lovelace to marketing")
    expect(page).to_have_url(re.compile(r"/queue/$"))
    assert Handoff.objects.get(pk=ada_handoff.pk).status == Status.RETURNED

    # --- marketing sees it in the returned queue and acknowledges it -------------------------
    page = mia.go("/returned/")
    feedback = ReturnFeedback.objects.get(handoff=ada_handoff)
    card = page.locator(f"#fb-{feedback.pk}")
    expect(card).to_contain_text("Bad contact data")
    expect(card).to_contain_text("The phone number is the switchboard.")
    expect(card).to_contain_text("To review")
    mia.shoot("07-marketer-returned-queue")
    card.locator("textarea[name=reply]").fill("Direct line added; thanks.")
    card.locator("select[name=follow_up]").select_option("fix_data")
    card.locator("button:has-text('Acknowledge')").click()
    expect(page.locator(".messages")).to_contain_text("Acknowledged the return of Ada Lovelace")
    expect(page.locator(f"#fb-{feedback.pk}")).to_contain_text("Acknowledged")
    feedback.refresh_from_db()
    assert feedback.acknowledged_by == world.marketer and feedback.reply.startswith("Direct line")
    page = mia.go(f"/leads/{ada.pk}/")
    expect(page.locator(".refusal")).to_contain_text("cools down until")
    expect(page.locator(".returns")).to_contain_text("Direct line added; thanks.")
    mia.shoot("07b-marketer-lead-page-after-return")

    # --- the rep asks a question: the clock pauses, and resumes with the time that was left --
    grace_handoff = Handoff.objects.get(lead=grace)
    page = rob.go(f"/handoffs/{grace_handoff.pk}/")
    page.click("summary:has-text('Ask marketing')")
    page.fill("#id_question", "Which product did they trial, and who else is on the account?")
    page.click("button:has-text('Ask and pause my clock')")
    expect(page.locator(".messages")).to_contain_text("Your clock is paused with")
    grace_handoff.refresh_from_db()
    assert grace_handoff.status == Status.WAITING
    left_minutes = grace_handoff.remaining_business_minutes
    expected = clock_label(accept_clock(grace_handoff))  # e.g. "paused, 59m left"
    assert expected.startswith("paused, ")
    expect(page.locator(".big-clock .clock")).to_have_text(expected)
    paused_label = page.locator(".big-clock .clock").inner_text()
    rob.shoot("08-rep-handoff-waiting")
    page.wait_for_timeout(1500)  # paused: nothing ticks
    assert page.locator(".big-clock .clock").inner_text() == paused_label

    page = mia.go("/questions/")
    question = page.locator(f"#q-{grace_handoff.pk}")
    expect(question).to_contain_text("Which product did they trial")
    expect(question).to_contain_text(expected)
    mia.shoot("09-marketer-questions")
    question.locator("textarea[name=answer]").fill("The team plan; their CFO joined the trial.")
    question.locator("button:has-text('Send answer')").click()
    expect(page.locator(".messages")).to_contain_text("their clock is running again")

    page = rob.go(f"/handoffs/{grace_handoff.pk}/")
    expect(page.locator(".packet")).to_contain_text("The team plan; their CFO joined the trial.")
    resumed = clock_seconds(page, ".big-clock")
    # Resumed with what was left at the pause, minus the seconds since the answer (a reload).
    assert left_minutes * 60 - 30 < resumed <= left_minutes * 60 + 1, (resumed, left_minutes)
    expect(page.locator(".big-clock .clock-label")).to_contain_text(
        re.compile(rf"^{int(resumed // 60)}m \d\ds left$|^{int(resumed // 60) - 1}m \d\ds left$")
    )
    rob.shoot("10-rep-handoff-resumed")

    # --- a second lead is accepted and its first touch logged --------------------------------
    page = rob.go("/queue/")
    page.locator(f"#h-{grace_handoff.pk} button:has-text('Accept')").click()
    expect(page.locator(".messages")).to_contain_text("Accepted: Grace Hopper is yours now")
    expect(page.locator(".big-clock")).to_contain_text("Time to first touch")
    rob.shoot("10b-rep-handoff-accepted")
    page.check("input[name=channel][value=email]")
    page.click("button:has-text('Log first touch')")
    expect(page.locator(".messages")).to_contain_text("First touch logged (email)")
    grace_handoff.refresh_from_db()
    assert grace_handoff.status == Status.ACCEPTED and grace_handoff.first_touch_channel == "email"
    rob.go("/accepted/")
    expect(rob.page.locator(f"#h-{grace_handoff.pk}")).to_contain_text("Email")
    rob.shoot("11-rep-accepted")

    # --- a manager reassigns what the rep is looking at: the rep's click loses, clearly ------
    page = rob.go(f"/handoffs/{alan_handoff.pk}/")
    expect(page.locator("h1")).to_have_text("Alan Turing")
    max_ = Person(chromium, live_server.url, world.manager)
    manager_page = max_.go(f"/handoffs/{alan_handoff.pk}/")
    manager_page.click("summary:has-text('Reassign')")
    manager_page.select_option("#id_to_rep", str(world.other_rep.pk))
    manager_page.click("#reassign button:has-text('Reassign')")
    expect(manager_page.locator(".messages")).to_contain_text("to Olga Rep (attempt 2)")
    page.click("button:has-text('Accept')")  # the rep's page still shows the old state
    expect(page.locator(".messages")).to_contain_text(
        "Someone else (Max Manager) already reassigned this handoff (Alan Turing); it is now "
        "reassigned. Nothing was changed."
    )
    rob.shoot("12-rep-conflict-message")
    alan_handoff.refresh_from_db()
    assert alan_handoff.status == Status.REASSIGNED

    # --- the pages every role has left, photographed ------------------------------------------
    TeamMembership.objects.filter(team=world.team).update(is_away=True)
    stray = world.promote(world.lead(first_name="Edsger", last_name="Dijkstra", score=81))
    TeamMembership.objects.filter(rep=world.rep).update(is_away=False)
    assert stray.assigned_to is None
    page = max_.go("/manager/queue/")
    row = page.locator(f"#h-{stray.pk}")
    expect(row).to_contain_text("rob.rep: marked away")
    max_.shoot("13-manager-unassigned")
    row.locator("select[name=to_rep]").select_option(str(world.rep.pk))
    row.locator("button:has-text('Assign')").click()
    expect(page.locator(".messages")).to_contain_text("Reassigned Edsger Dijkstra to Rob Rep")
    expect(page.locator(".empty")).to_contain_text("Nothing unassigned")
    mia.go("/feedback/")
    expect(mia.page.locator(".kpis")).to_contain_text("returned")
    mia.shoot("14-marketer-feedback-report")

    # --- the manager's dashboard shows the numbers that moved ---------------------------------
    page = max_.go("/dashboard/")
    max_.shoot("15-manager-dashboard")
    rep_row = page.locator("tr", has=page.locator("th", has_text="Rob Rep"))
    cells = rep_row.first.locator("td").all_inner_texts()
    # Rob's row (handoffs, accepted, returned, ...): Grace accepted, Ada returned.
    assert cells[1:3] == ["1", "1"], cells

    for person in (mia, rob, max_):
        person.context.close()


def test_the_login_page_and_a_refused_page_read_well_on_a_phone(chromium, live_server, world):
    from playwright.sync_api import expect

    person = Person(chromium, live_server.url)
    page = person.go("/queue/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/queue/$"))
    person.log_in(world.rep.username, "not the password")
    expect(page.locator(".errors")).to_be_visible()
    person.shoot("00-login-error")
    person.log_in(world.rep.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/queue/$"))
    expect(page.locator(".empty")).to_contain_text("Your queue is empty")
    person.shoot("16-rep-empty-queue")
    person.go("/leads/")
    expect(page.locator("h1")).to_have_text("Not for your role")
    person.shoot("17-rep-refused-403")
    person.context.close()


def test_an_auto_promoted_lead_appears_in_the_open_queue_within_ten_seconds(
    chromium, live_server, world
):
    import datetime as dt
    import time

    from playwright.sync_api import expect

    from handoff.models import AutoPromotionRule
    from leads import services as lead_services

    AutoPromotionRule.objects.create(name="Demo request", event_kinds=["demo_request"])
    lead = world.lead(first_name="Hedy", last_name="Lamarr", company="Frequency Hopping")
    rob = Person(chromium, live_server.url, world.rep)
    page = rob.go("/queue/")
    expect(page.locator(".empty")).to_contain_text("Your queue is empty")
    page.wait_for_timeout(1000)  # the page is open and idle: no reload from here on

    signal = time.monotonic()
    lead_services.event_record(
        lead=lead,
        kind=EventKind.DEMO_REQUEST,
        occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5),
    )
    row = page.locator("#queue-rows tr", has_text="Hedy Lamarr")
    expect(row).to_be_visible(timeout=10_000)
    assert time.monotonic() - signal < 10
    expect(row).to_contain_text("Auto: Demo request")
    rob.shoot("18-rep-queue-auto-promoted")
    rob.context.close()
