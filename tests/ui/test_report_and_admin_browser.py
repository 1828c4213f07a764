"""Pages that tell the truth, walked in Chromium: our own 404 page for a refusal even with DEBUG
on, the manager's dispute inbox, the navigation's counts refreshed by the page's own polling,
the feedback report's charts, and the admin at 1280 px.

Reuses the browser, the logged-in Person and the world of tests/ui/test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from feedback.models import ReturnFeedback
from handoff.models import Handoff, TeamMembership
from leads.models import Source
from tests.ui.test_browser import Person, chromium, pytestmark, world

__all__ = ["chromium", "pytestmark", "world"]


def fits(page: Any, selector: str) -> int:
    """How many pixels the element's content overflows its own box (<= 0: it fits)."""
    return int(
        page.evaluate(
            "(s) => { const e = document.querySelector(s); return e.scrollWidth - e.clientWidth; }",
            selector,
        )
    )


def test_a_refused_handoff_shows_our_not_found_page_with_a_way_home(
    chromium, live_server, world, settings
):
    from playwright.sync_api import expect

    settings.DEBUG = True  # as in the run command's demo
    handoff = world.promote()
    olga = Person(chromium, live_server.url, world.other_rep)
    page = olga.go(f"/handoffs/{handoff.pk}/")
    expect(page.locator("h1")).to_have_text("Not found")
    assert "URLconf" not in page.content()
    olga.shoot("truth-01-refused-handoff")
    page.click("a:has-text('Go to your home page')")
    expect(page).to_have_url(re.compile(r"/queue/$"))


def test_a_dispute_ends_in_the_managers_inbox(chromium, live_server, world):
    from playwright.sync_api import expect

    returned = world.give_back(world.promote(world.lead(first_name="Ada")), "not-ready")
    mia = Person(chromium, live_server.url, world.marketer)
    page = mia.go("/returned/")
    card = page.locator(f"#fb-{returned.pk}")
    card.locator("textarea[name=reply]").fill("She booked a demo yesterday: she is ready.")
    expect(card.locator("button:has-text('Dispute')")).to_be_visible()
    card.locator("button:has-text('Dispute')").click()
    expect(page.locator(".messages")).to_contain_text("Disputed: the sales manager will review")

    max_ = Person(chromium, live_server.url, world.manager)
    page = max_.go("/dashboard/")
    disputes_link = page.locator("nav a:has-text('Disputes')")
    expect(disputes_link.locator("[data-nav-count=manager_disputes]")).to_contain_text("1")
    disputes_link.click()
    dispute = page.locator(f"#dispute-{returned.pk}")
    expect(dispute).to_contain_text("She booked a demo yesterday")
    max_.shoot("truth-02-dispute-inbox")
    dispute.locator("textarea[name=resolution]").fill("A fresh demo request: overturned.")
    dispute.locator("button:has-text('Overturn the return')").click()
    expect(page.locator(".messages")).to_contain_text("overturned")
    expect(page.locator(".card.empty")).to_contain_text("No open dispute")
    expect(page.locator("[data-nav-count=manager_disputes]")).to_be_hidden()
    returned.refresh_from_db()
    assert returned.dispute_status == ReturnFeedback.DisputeStatus.OVERTURNED


def test_the_navigation_counts_follow_the_pages_own_refresh(chromium, live_server, world):
    from playwright.sync_api import expect

    world.promote()
    rob = Person(chromium, live_server.url, world.rep)
    page = rob.page
    expect(page).to_have_url(re.compile(r"/queue/$"))
    badge = page.locator("nav [data-nav-count=rep_new]")
    expect(badge).to_contain_text("1")
    world.promote()
    world.promote()
    # The rows' own 30-second refresh, run now rather than waited for.
    page.evaluate(
        "htmx.ajax('GET', location.pathname, {source: '#queue-rows', target: '#queue-rows',"
        " swap: 'outerHTML'})"
    )
    expect(badge).to_contain_text("3")
    expect(page.locator("#queue-rows tr")).to_have_count(3)
    expect(page.locator("#pager")).to_contain_text("of 3")  # the pager refreshed with them
    rob.shoot("truth-03-nav-counts")


def test_the_feedback_report_charts_show_every_row_under_their_measure(
    chromium, live_server, world
):
    from playwright.sync_api import expect

    sources = [Source.PARTNER, Source.WEBINAR, Source.EMAIL, Source.EVENT, Source.REFERRAL,
               Source.DIRECT, Source.CONTENT, Source.PAID_SEARCH, Source.ORGANIC_SEARCH]  # fmt: skip
    for i, source in enumerate(sources):
        for j in range(2):
            h = world.promote(world.lead(source=source, score=150 if i % 3 == 0 else 70))
            if source == Source.PARTNER or j:
                world.give_back(h, "not-ready")
            else:
                world.accept(h)
    mia = Person(chromium, live_server.url, world.marketer)
    page = mia.go("/feedback/?all=1")
    sources_chart = page.locator("svg#fb-sources")
    expect(sources_chart.locator("title").first).to_have_text("Return rate by source")
    expect(sources_chart).to_contain_text("Returned, % of decided handoffs")
    for label in ("Partner", "Organic search", "Paid search", "Content syndication"):
        expect(sources_chart).to_contain_text(label)
    bands = page.locator("svg#fb-bands")
    expect(bands.locator("title").first).to_have_text("Acceptance rate by score band")
    expect(bands).to_contain_text("Accepted, % of decided handoffs")
    expect(bands).to_contain_text("100+")
    mia.shoot("truth-04-feedback-report")


def test_the_admin_fits_1280_pixels_and_reads_as_tables(chromium, live_server, world):
    from playwright.sync_api import expect

    for i in range(12):
        lead = world.lead(
            first_name="Bartholomew", last_name=f"Longname-Smythe {i}", company="Very Long "
            "Company Name Incorporated", email=f"bartholomew.longname{i}@very-long-domain.example",
        )  # fmt: skip
        world.promote(lead, ago=dt.timedelta(hours=i * 3))
    TeamMembership.objects.update(is_away=False)
    # The admin checks model permissions, which a flushed live-server database no longer grants
    # the manager's group; a superuser manager sees every screen.
    world.manager.is_superuser = True
    world.manager.save()
    max_ = Person(chromium, live_server.url, world.manager)
    page = max_.go("/admin/handoff/handoff/")
    expect(page.locator("#result_list")).to_be_visible()
    assert fits(page, ".results") <= 0, "the handoff list scrolls sideways at 1280 px"
    for column in ("column-time_left", "column-is_breached", "column-accepted_late"):
        box = page.locator(f"#result_list th.{column}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, column
    max_.shoot("truth-05-admin-handoffs")

    handoff = Handoff.objects.order_by("id").first()
    page = max_.go(f"/admin/handoff/handoff/{handoff.pk}/change/")
    expect(page.locator("table.snapshot").first).to_be_visible()
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator(".field-routing_table table.snapshot").first).to_contain_text("rep")
    expect(page.locator(".field-policy_table")).to_contain_text("accept within minutes")
    max_.shoot("truth-06-admin-handoff-page")

    page = max_.go("/admin/leads/lead/")
    expect(page.locator("#result_list")).to_be_visible()
    assert fits(page, ".results") <= 0, "the lead list scrolls sideways at 1280 px"
    box = page.locator("#result_list th.column-score").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
    max_.shoot("truth-07-admin-leads")

    page = max_.go("/admin/leads/lead/import/")
    page.set_input_files(
        "input[type=file]",
        files=[{
            "name": "leads.csv",
            "mimeType": "text/csv",
            "buffer": (
                b"email,first_name,last_name,company,title,employee_band,country,source\n"
                b"fine@corp.example,Fine,Row,Corp,CTO,201-500,US,webinar\n"
                b"not-an-email,Bad,Row,A company with a very long name indeed,Chief Everything "
                b"Officer,huge,US,webinar\n"
            ),
        }],
    )  # fmt: skip
    page.click("form[aria-label='Upload a CSV file'] button[type=submit]")
    # The mapping step (the import page's, in the admin), then the dry run.
    expect(page.locator("table.mapping")).to_contain_text("employee_band")
    page.click("form[aria-label='Column mapping'] button[type=submit]")
    table = page.locator("table.import-errors")
    expect(table).to_contain_text("is not a valid email address")
    expect(table.locator("tbody td").first).to_have_text("3")
    assert fits(page, "#content") <= 0
    max_.shoot("truth-08-admin-import-errors")
