"""The import page in Chromium: a marketer uploads an unedited HubSpot export, changes a column
in the mapping step, sees the dry run, starts the import and watches the progress bar move while
a worker writes it, then reaches the summary and the imported leads.

The worker is the task's own code (leads.tasks.lead_import_run) run on a thread of the test
process, against the live server's database, with a pause between batches so that a human-speed
poll sees the bar move.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from leads import tasks
from leads.imports import services as imports
from leads.models import ImportStatus, Lead, LeadImport
from tests.ui.test_browser import Person, chromium  # noqa: F401  (the browser fixture)
from tests.ui.world import World, make_world

pytestmark = pytest.mark.browser

HEADER = (
    "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lifecycle Stage,"
    "Lead Status,Original Source,Country/Region,Industry,Number of Employees,Create Date\n"
)


@pytest.fixture
def world(live_server, django_db_serialized_rollback) -> World:
    return make_world()


def hubspot_file(tmp_path: Any, rows: int) -> str:
    path = tmp_path / "hubspot-contacts.csv"
    countries = ["Germany", "United States", "UK", "France"]
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(
                f"{i},First{i},Last{i},person{i}@acme{i % 7}.example,,Acme {i % 7},"
                f"VP Engineering,lead,New,Organic Search,{countries[i % 4]},software,"
                f"{40 + i},2026-01-05\n"
            )
    return str(path)


def test_a_marketer_maps_checks_and_imports_a_hubspot_export_watching_the_progress_bar(
    chromium,  # noqa: F811
    live_server,
    world,
    tmp_path,
    monkeypatch,
):
    from playwright.sync_api import expect

    rows = 600
    mia = Person(chromium, live_server.url, world.marketer)
    page = mia.page
    page.click("nav >> text=Import")
    expect(page.locator("h1")).to_have_text("Import leads")
    page.set_input_files("#id_file", hubspot_file(tmp_path, rows))
    page.click("button:has-text('Upload and map columns')")

    # The mapping step: each column, the field it fills, three samples.
    expect(page.locator("table.mapping")).to_contain_text("Country/Region")
    country = page.locator("tr[data-column='Country/Region']")
    expect(country.locator("select")).to_have_value("country")
    expect(country).to_contain_text("Germany · United States · UK")
    expect(page.locator("tr[data-column='Lifecycle Stage'] select")).to_have_value("")
    expect(page.locator("tr[data-column='Lifecycle Stage']")).to_contain_text("no lead field")
    mia.shoot("import-01-mapping")
    # The marketer does not trust the phone column: skip it; and keep the mapping for next time.
    page.select_option("tr[data-column='Phone Number'] select", "")
    page.fill("#id_save_as", "HubSpot contacts")
    page.click("button:has-text('Check the file (dry run)')")

    dry_run = page.locator("#dry-run")
    expect(dry_run.locator("[data-to-create]")).to_have_text(str(rows))
    expect(dry_run.locator("[data-errors]")).to_have_text("0")
    expect(page.locator("tr[data-column='Phone Number'] select")).to_have_value("")
    assert Lead.objects.count() == 0
    mia.shoot("import-02-dry-run")

    # A slow worker: the bar must move while the page polls.
    monkeypatch.setattr(imports, "BATCH_SIZE", 50)
    real_upsert = imports.services.leads_bulk_upsert

    def slow_upsert(**kwargs: Any) -> Any:
        time.sleep(0.4)
        return real_upsert(**kwargs)

    monkeypatch.setattr(imports.services, "leads_bulk_upsert", slow_upsert)
    page.click(f"button:has-text('Import {rows} leads')")
    expect(page.locator("#import-bar")).to_be_visible()
    imp = LeadImport.objects.get()
    assert imp.status == ImportStatus.QUEUED
    worker = threading.Thread(target=tasks.lead_import_run, args=(imp.pk,))
    worker.start()
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # One read in the page, which reloads itself while it polls: a read that meets a reload
        # (or the bar swapped for the summary) is simply taken again at the next turn.
        try:
            value = page.evaluate(
                "() => document.querySelector('#import-bar')?.getAttribute('value') ?? null"
            )
        except PlaywrightError:
            value = None
        if value is not None:
            seen.add(int(value))
        if page.locator("#summary").count():
            break
        page.wait_for_timeout(250)
    worker.join(timeout=60)
    moving = {v for v in seen if 0 < v < rows}
    assert len(moving) >= 2, f"the bar did not move: {sorted(seen)}"
    mia.shoot("import-03-summary")

    summary = page.locator("#summary")
    expect(summary).to_contain_text(f"{rows} leads created")
    expect(summary.locator("text=Undo this import")).to_be_visible()
    page.click("text=See the imported leads")
    expect(page).to_have_url(re.compile(rf"/leads/\?lead_import={imp.pk}$"))
    expect(page.locator("table.leads tbody tr").first).to_contain_text("VP Engineering")
    lead = Lead.objects.get(email="person0@acme0.example")
    assert (lead.country, lead.seniority, lead.phone) == ("DE", "vp", "")
