"""The import page for marketers: upload, mapping step, dry run, the import as a task, summary
with the rejected rows, saved mappings, undo."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from core.roles import MARKETING
from leads import services, tasks
from leads.imports import services as imports
from leads.models import ImportMapping, ImportStatus, Lead, LeadImport
from tests.factories import LeadFactory, UserFactory
from tests.leads.test_import_recognition import HUBSPOT

pytestmark = pytest.mark.usefixtures("default_rules")

BAD_ROW = (
    "102,Bo,Ek,bo@acme.example,,Acme,Engineer,lead,New,Carrier Pigeon,Atlantis,software,40,2026\n"
)
GOOD_ROW = "103,Cy,Ng,cy@acme.example,,Acme,CTO,lead,New,Referrals,Sweden,software,40,2026\n"


@pytest.fixture
def page(client, marketer):
    client.force_login(marketer)
    return client


def upload(client, content: str, **extra):
    return client.post(
        "/leads/import/",
        {"file": SimpleUploadedFile("hubspot.csv", content.encode(), "text/csv"), **extra},
    )


def mapping_form(response) -> dict[str, str]:
    """The mapping step's choices as the page offers them."""
    html = response.content.decode()
    form = {}
    for name, body in re.findall(r'<select name="(col_\d+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        form[name] = chosen.group(1) if chosen else ""
    return form


def test_a_marketer_uploads_a_hubspot_export_checks_it_and_imports_it(page, marketer):
    response = upload(page, HUBSPOT + GOOD_ROW)
    assert response.status_code == 302
    detail_url = response["Location"]

    mapping = page.get(detail_url)
    html = mapping.content.decode()
    assert "HubSpot contacts" in html
    assert "Hana@Acme.example · cy@acme.example" in html  # sample values
    form = mapping_form(mapping)
    assert form["col_3"] == "email" and form["col_10"] == "country"
    assert form["col_7"] == ""  # Lifecycle Stage: no lead field, skipped

    checked = page.post(detail_url, {**form, "save_as": "HubSpot contacts"}, follow=True)
    imp = LeadImport.objects.get()
    assert (imp.status, imp.to_create, imp.to_update, imp.errors) == ("checked", 2, 0, [])
    assert Lead.objects.count() == 0  # the dry run wrote nothing
    assert b"Import 2 leads" in checked.content
    assert ImportMapping.objects.get(name="HubSpot contacts").columns["countryregion"] == "country"

    page.post(f"/leads/import/{imp.pk}/run/")
    imp.refresh_from_db()
    assert imp.status == ImportStatus.QUEUED
    assert tasks.lead_import_run(imp.pk) == "done"  # what the worker runs

    summary = page.get(detail_url).content.decode()
    assert "<strong>2</strong> leads created" in summary
    hana = Lead.objects.get(email="hana@acme.example")
    assert (hana.country, hana.seniority, hana.employee_band) == ("DE", "vp", "201-500")
    assert hana.score > 0
    listed = page.get(f"/leads/?lead_import={imp.pk}")
    assert b"hana@acme.example" in listed.content or b"Hana Schmidt" in listed.content


def test_changing_a_column_to_skip_in_the_mapping_step_leaves_that_field_alone(page):
    detail_url = upload(page, HUBSPOT)["Location"]
    form = mapping_form(page.get(detail_url))
    form["col_6"] = ""  # Job Title: skip
    page.post(detail_url, form)
    imp = LeadImport.objects.get()
    page.post(f"/leads/import/{imp.pk}/run/")
    tasks.lead_import_run(imp.pk)
    lead = Lead.objects.get()
    assert (lead.title, lead.seniority) == ("", "")


def test_a_dry_run_lists_bad_rows_by_line_and_refuses_to_import_them_all(page):
    detail_url = upload(page, HUBSPOT + BAD_ROW)["Location"]
    checked = page.post(detail_url, mapping_form(page.get(detail_url)), follow=True)
    html = checked.content.decode()
    assert "<td>3</td>" in html
    assert "&quot;Atlantis&quot; is not a country name" in html
    imp = LeadImport.objects.get()
    refused = page.post(f"/leads/import/{imp.pk}/run/", follow=True)
    assert b"1 rows are bad" in refused.content
    assert LeadImport.objects.get().status == ImportStatus.CHECKED
    assert Lead.objects.count() == 0


def test_skipping_bad_rows_imports_the_good_ones_and_offers_the_rejected_rows(page):
    detail_url = upload(page, HUBSPOT + BAD_ROW)["Location"]
    page.post(detail_url, {**mapping_form(page.get(detail_url)), "skip_bad_rows": "on"})
    imp = LeadImport.objects.get()
    page.post(f"/leads/import/{imp.pk}/run/")
    tasks.lead_import_run(imp.pk)

    assert list(Lead.objects.values_list("email", flat=True)) == ["hana@acme.example"]
    rejected = b"".join(page.get(f"/leads/import/{imp.pk}/rejected.csv").streaming_content)
    lines = rejected.decode().splitlines()
    assert lines[0].endswith(",error")
    assert lines[1].startswith("102,Bo,Ek,bo@acme.example")
    assert "Atlantis" in lines[1] and len(lines) == 2


def test_two_columns_for_one_field_are_named_until_one_is_skipped(page):
    detail_url = upload(page, "Email,Country,Billing Country\na@b.example,DE,FR\n")["Location"]
    step = page.get(detail_url)
    assert b"&quot;Country&quot; (column 2) and &quot;Billing Country&quot; (column 3)" in (
        step.content
    )
    refused = page.post(detail_url, mapping_form(step), follow=True)
    assert b"both fill country" in refused.content
    assert LeadImport.objects.get().status == ImportStatus.UPLOADED

    page.post(detail_url, {**mapping_form(step), "col_2": ""})
    assert LeadImport.objects.get().status == ImportStatus.CHECKED


def test_a_saved_mapping_is_applied_to_the_next_upload(page):
    saved = ImportMapping.objects.create(
        name="No titles", columns={"jobtitle": ""}, updated_at=timezone.now()
    )
    detail_url = upload(page, HUBSPOT, saved_mapping=str(saved.pk))["Location"]
    assert mapping_form(page.get(detail_url))["col_6"] == ""


def test_a_file_that_is_not_utf8_is_refused_on_upload_naming_the_line(page):
    response = page.post(
        "/leads/import/",
        {"file": SimpleUploadedFile("x.csv", "email\nzoë@b.example\n".encode("latin-1"))},
    )
    assert b"line 2: not UTF-8 text" in response.content
    assert LeadImport.objects.count() == 0


def _imported(page, content: str) -> LeadImport:
    detail_url = upload(page, content)["Location"]
    page.post(detail_url, mapping_form(page.get(detail_url)))
    imp = LeadImport.objects.latest("id")
    page.post(f"/leads/import/{imp.pk}/run/")
    tasks.lead_import_run(imp.pk)
    imp.refresh_from_db()
    return imp


def test_undo_removes_created_leads_and_restores_changed_fields(page):
    known = LeadFactory(email="hana@acme.example", company="Old Co", title="Engineer")
    known_seniority = Lead.objects.get(pk=known.pk).seniority
    imp = _imported(page, HUBSPOT + GOOD_ROW)
    assert (imp.created_count, imp.updated_count) == (1, 1)
    assert Lead.objects.get(pk=known.pk).company == "Acme"

    done = page.post(f"/leads/import/{imp.pk}/undo/", follow=True)

    assert b"Import undone" in done.content
    assert list(Lead.objects.values_list("email", flat=True)) == ["hana@acme.example"]
    restored = Lead.objects.get(pk=known.pk)
    assert (restored.company, restored.title, restored.seniority) == (
        "Old Co",
        "Engineer",
        known_seniority,
    )
    assert LeadImport.objects.get().status == ImportStatus.UNDONE


def test_undo_is_refused_for_leads_promoted_since(page, marketer):
    imp = _imported(page, HUBSPOT)
    lead = Lead.objects.get()
    with transaction.atomic():
        services.lead_change_stage(lead=lead, to_stage="mql", actor=marketer, reason="promoted")

    refused = page.post(f"/leads/import/{imp.pk}/undo/", follow=True)

    assert b"cannot be undone: some of its leads have been promoted to sales since" in (
        refused.content
    )
    assert b"hana@acme.example" in refused.content
    assert Lead.objects.count() == 1


def test_undo_is_offered_for_24_hours(page):
    imp = _imported(page, HUBSPOT)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        summary = page.get(f"/leads/import/{imp.pk}/")
        assert b"Undo this import" not in summary.content
        refused = page.post(f"/leads/import/{imp.pk}/undo/", follow=True)
    assert b"can be undone for 24 hours" in refused.content
    assert Lead.objects.count() == 1


def test_a_sales_rep_cannot_open_the_import_page(client, rep):
    client.force_login(rep)
    assert client.get("/leads/import/").status_code == 403


def test_another_marketer_cannot_see_my_import(page, client):
    imp = _imported(page, HUBSPOT)
    other = UserFactory(username="nia.marketer", role=MARKETING)
    client.force_login(other)
    assert client.get(f"/leads/import/{imp.pk}/").status_code == 404


def test_past_the_undo_window_the_file_and_before_values_are_purged(page):
    LeadFactory(email="hana@acme.example", company="Old Co")
    fixed = BAD_ROW.replace("Atlantis", "Sweden").replace("Carrier Pigeon", "Referrals")
    imp = _imported(page, HUBSPOT + fixed + GOOD_ROW)
    abandoned = upload(page, HUBSPOT)  # uploaded, never imported
    assert abandoned.status_code == 302
    assert imports.lead_imports_purge() == 0  # within the 24 hours

    later = timezone.now() + dt.timedelta(hours=25)
    assert imports.lead_imports_purge(now=later) == 2

    imp.refresh_from_db()
    assert (bytes(imp.content), imp.errors, imp.changes.count()) == (b"", [], 0)
    assert (imp.created_count, imp.updated_count, imp.purged_at) == (2, 1, later)
    assert LeadImport.objects.count() == 1
    assert Lead.objects.count() == 3  # the leads stay


def test_the_summary_page_costs_the_same_queries_whatever_the_number_of_errors(
    page, django_assert_max_num_queries
):
    small = _imported(page, HUBSPOT)
    many = HUBSPOT + "".join(
        BAD_ROW.replace("bo@", f"bo{i}@").replace("102,", f"{200 + i},") for i in range(150)
    )
    detail_url = upload(page, many)["Location"]
    page.post(detail_url, {**mapping_form(page.get(detail_url)), "skip_bad_rows": "on"})
    big = LeadImport.objects.latest("id")
    page.post(f"/leads/import/{big.pk}/run/")
    tasks.lead_import_run(big.pk)
    for imp in (small, big):
        with django_assert_max_num_queries(8):
            response = page.get(f"/leads/import/{imp.pk}/")
        assert response.status_code == 200


def test_a_large_file_is_dry_run_by_a_task_the_page_polls(page, settings):
    settings.LEAD_IMPORT_INLINE_CHECK_BYTES = 100
    detail_url = upload(page, HUBSPOT + GOOD_ROW + BAD_ROW)["Location"]
    page.post(detail_url, mapping_form(page.get(detail_url)))
    imp = LeadImport.objects.get()
    assert (imp.status, imp.total_rows) == (ImportStatus.CHECKING, 3)
    polled = page.get(f"/leads/import/{imp.pk}/progress/")
    assert b"Checking the file (dry run)" in polled.content
    assert "HX-Refresh" not in polled

    assert tasks.lead_import_check(imp.pk) == "checked"  # what the worker runs

    imp.refresh_from_db()
    assert (imp.status, imp.to_create, imp.rejected_count) == (ImportStatus.CHECKED, 2, 1)
    assert page.get(f"/leads/import/{imp.pk}/progress/")["HX-Refresh"] == "true"
    assert b"Import 2 leads" not in page.get(detail_url).content  # a bad row, not skipped
    assert Lead.objects.count() == 0
