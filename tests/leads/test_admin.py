"""The leads admin: lists, a lead with many events, the CSV import (the import page's flow in
the admin: upload, mapping step, dry run, the import, summary), saved mappings, CSV export."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from leads import services, tasks
from leads.models import (
    EngagementEvent,
    ImportMapping,
    ImportStatus,
    Lead,
    LeadImport,
    SourceAlias,
)
from tests.factories import CampaignFactory, EngagementEventFactory, LeadFactory, UserFactory
from tests.leads.test_import_recognition import HUBSPOT

pytestmark = pytest.mark.usefixtures("default_rules")

GOOD_CSV = (
    "email,first_name,last_name,company,industry,employee_band,seniority,country,campaign,owner\n"
    " New.Person@Acme.example ,Nia,Person,Acme,software,201-500,vp,us,Spring,mia.marketer\n"
    "known@corp.example,,,,fintech,,,,,\n"
)


@pytest.fixture
def staff_marketer(marketer):
    marketer.is_staff = True
    marketer.save()
    return marketer


@pytest.fixture
def admin_client(client, staff_marketer):
    client.force_login(staff_marketer)
    return client


def upload(client, content: str, **extra):
    """The admin's import: the upload (a redirect to the mapping step when the file reads)."""
    return client.post(
        "/admin/leads/lead/import/",
        {"file": SimpleUploadedFile("leads.csv", content.encode(), "text/csv"), **extra},
    )


def mapping_form(response) -> dict[str, str]:
    """The mapping step's choices as the admin offers them."""
    html = response.content.decode()
    form = {}
    for name, body in re.findall(r'<select name="(col_\d+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        form[name] = chosen.group(1) if chosen else ""
    return form


def dry_run(client, content: str, **choices):
    """Upload, keep the recognised mapping (with `choices` changed), check: the dry run page."""
    uploaded = upload(client, content)
    assert uploaded.status_code == 302, uploaded.content.decode()[-2000:]
    step = client.get(uploaded["Location"])
    assert step.status_code == 200
    form = {**mapping_form(step), **choices}
    return client.post(uploaded["Location"], form, follow=True)


def confirm(client, outcome: str = "done"):
    """Import the checked file, and run the task as the worker does."""
    imp = LeadImport.objects.latest("pk")
    response = client.post(f"/admin/leads/lead/import/{imp.pk}/run/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/leads/lead/import/{imp.pk}/"
    if LeadImport.objects.get(pk=imp.pk).status == ImportStatus.QUEUED:
        assert tasks.lead_import_run(imp.pk) == outcome
    return client.get(response["Location"])


def test_the_admin_import_is_the_import_pages_flow_in_the_admins_frame(admin_client):
    CampaignFactory(name="Spring")
    known = LeadFactory(email="known@corp.example", company="Corp", industry="retail")

    page = admin_client.get("/admin/leads/lead/import/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="site-name"' in html and 'name="file"' in html and 'name="saved_mapping"' in html

    checked = dry_run(admin_client, GOOD_CSV)

    text = checked.content.decode()
    assert 'id="site-name"' in text  # still in the admin
    assert "<strong data-to-create>1</strong> leads to create" in text
    assert "<strong data-to-update>1</strong> to update" in text
    assert Lead.objects.count() == 1  # the dry run wrote nothing

    summary = confirm(admin_client).content.decode()

    assert "<strong>1</strong> leads created, <strong>1</strong> updated" in summary
    assert "Undo this import" in summary
    new = Lead.objects.get(email="new.person@acme.example")
    assert (new.domain, new.country, new.campaign.name, new.owner.username) == (
        "acme.example",
        "US",
        "Spring",
        "mia.marketer",
    )
    assert new.score == 15 + 10 + 20 + 5  # scored on the way in
    known.refresh_from_db()
    assert (known.industry, known.company) == ("fintech", "Corp")  # empty cells left alone


def test_bad_rows_are_listed_by_line_with_their_errors_and_nothing_can_be_imported(admin_client):
    content = (
        "email,employee_band,campaign\n"
        "fine@corp.example,201-500,\n"
        "not-an-email,huge,\n"
        "fine@corp.example,,Nope\n"
    )

    checked = dry_run(admin_client, content)

    text = checked.content.decode()
    assert "Import 1 leads" not in text and "Fix the file" in text
    assert "<td>3</td>" in text  # the bad row by its line in the file (the header is line 1)
    assert "is not a valid email address" in text
    assert "&quot;huge&quot; is not a number of employees" in text
    assert "fine@corp.example is also on line 2" in text
    assert "no campaign &quot;Nope&quot;" in text
    imp = LeadImport.objects.get()
    refused = admin_client.post(f"/admin/leads/lead/import/{imp.pk}/run/", follow=True)
    assert "rows are bad" in refused.content.decode()
    assert Lead.objects.count() == 0


def test_an_admin_import_cannot_set_the_stage_or_score(admin_client):
    dry_run(admin_client, "email,stage,score\nx@corp.example,customer,999\n")
    confirm(admin_client)
    lead = Lead.objects.get()
    assert (lead.stage, lead.score) == ("lead", 0)


def test_a_marketer_cannot_import_leads_for_another_marketer(admin_client):
    UserFactory(username="other.marketer", role="Marketing")
    dry_run(admin_client, "email,owner\nx@corp.example,other.marketer\n")
    failed = confirm(admin_client, "failed").content.decode()
    assert "Only a sales manager can give a lead to another marketer" in failed
    assert Lead.objects.count() == 0


def test_the_admin_mapping_step_skips_a_column_and_saves_the_mapping_for_next_time(
    admin_client,
):
    uploaded = upload(admin_client, HUBSPOT)
    step = admin_client.get(uploaded["Location"])
    html = step.content.decode()
    assert "HubSpot contacts" in html  # the tool the header was recognised as
    assert "Hana@Acme.example" in html  # sample values beside each column
    form = mapping_form(step)
    assert form["col_5"] == "company" and form["col_10"] == "country"
    admin_client.post(uploaded["Location"], {**form, "col_5": "", "save_as": "HubSpot, no company"})
    confirm(admin_client)

    assert Lead.objects.get(email="hana@acme.example").company == ""
    saved = ImportMapping.objects.get(name="HubSpot, no company")
    assert saved.columns["companyname"] == ""

    # The next upload with the saved mapping starts from it.
    again = upload(admin_client, HUBSPOT, saved_mapping=saved.pk)
    assert mapping_form(admin_client.get(again["Location"]))["col_5"] == ""


def test_saved_mappings_are_listed_renamed_and_deleted_in_the_admin(admin_client):
    saved = ImportMapping.objects.create(
        name="HubSpot contacts",
        columns={"email": "email", "companyname": "company", "lifecyclestage": ""},
        updated_at=timezone.now(),
    )
    listing = admin_client.get("/admin/leads/importmapping/").content.decode()
    assert "HubSpot contacts" in listing

    page = admin_client.get(f"/admin/leads/importmapping/{saved.pk}/change/").content.decode()
    assert "<td>companyname</td><td>Company</td>" in page
    assert "<td>lifecyclestage</td><td>skipped</td>" in page
    renamed = admin_client.post(
        f"/admin/leads/importmapping/{saved.pk}/change/", {"name": "  HubSpot (EU)  "}
    )
    assert renamed.status_code == 302
    saved.refresh_from_db()
    assert saved.name == "HubSpot (EU)" and saved.columns["companyname"] == "company"

    ImportMapping.objects.create(name="Marketo", columns={}, updated_at=timezone.now())
    twin = admin_client.post(f"/admin/leads/importmapping/{saved.pk}/change/", {"name": "Marketo"})
    assert twin.status_code == 200 and "already exists" in twin.content.decode()

    deleted = admin_client.post(f"/admin/leads/importmapping/{saved.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert list(ImportMapping.objects.values_list("name", flat=True)) == ["Marketo"]


def test_the_admins_list_of_imports_opens_each_in_the_admin(admin_client):
    dry_run(admin_client, GOOD_CSV.splitlines()[0] + "\nsomeone@corp.example" + "," * 9 + "\n")
    imp = LeadImport.objects.get()
    listing = admin_client.get("/admin/leads/leadimport/").content.decode()
    assert f'href="/admin/leads/lead/import/{imp.pk}/"' in listing
    progress = admin_client.get(f"/admin/leads/lead/import/{imp.pk}/progress/")
    assert progress.status_code == 200


def test_the_export_is_a_csv_with_stage_and_score(admin_client):
    LeadFactory(email="exported@corp.example", score=42, stage="mql")
    response = admin_client.post(
        "/admin/leads/lead/export/",
        {
            "format": "0",
            "resource": "0",
            **{f"leadresource_{f}": "on" for f in ["email", "stage", "score"]},
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "exported@corp.example" in body
    assert "mql" in body and "42" in body


def test_a_lead_with_thousands_of_events_opens_with_its_latest_events_only(
    admin_client, django_assert_max_num_queries
):
    lead = LeadFactory()
    now = timezone.now()
    EngagementEvent.objects.bulk_create(
        EngagementEvent(lead=lead, kind="page_view", occurred_at=now, external_id=f"e{i}")
        for i in range(3000)
    )
    EngagementEventFactory(lead=lead, kind="demo_request", occurred_at=now)
    services.lead_rescore(lead=lead)

    with django_assert_max_num_queries(30):
        page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert text.count('class="field-kind"') <= 20
    assert "Why this score" in text
    assert "Demo requested within 30 days" in text
    assert "All events of this lead" in text


def test_the_lead_list_searches_and_filters(admin_client):
    LeadFactory(email="findme@corp.example", stage="mql")
    LeadFactory(email="other@corp.example")
    response = admin_client.get("/admin/leads/lead/", {"q": "findme", "stage__exact": "mql"})
    assert response.status_code == 200
    assert b"findme@corp.example" in response.content
    assert b"other@corp.example" not in response.content


def test_saving_a_lead_in_the_admin_cannot_change_its_stage(admin_client):
    lead = LeadFactory(stage="mql", industry="retail")
    response = admin_client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        {
            "email": lead.email,
            "source": lead.source,
            "industry": "software",
            "stage": "customer",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
            "stage_changes-TOTAL_FORMS": "0",
            "stage_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    lead.refresh_from_db()
    assert (lead.stage, lead.industry, lead.score) == ("mql", "software", 15)


def test_a_sales_rep_has_no_lead_admin(client, rep):
    rep.is_staff = True
    rep.save()
    client.force_login(rep)
    assert client.get("/admin/leads/lead/").status_code == 403
    assert client.get("/admin/leads/lead/import/").status_code == 403


def test_a_header_naming_a_column_twice_is_refused_in_the_admin_naming_it(admin_client):
    uploaded = upload(admin_client, "email,first_name,email\na@b.example,A,c@d.example\n")
    step = admin_client.get(uploaded["Location"]).content.decode()
    assert "The column &quot;email&quot; is named twice (columns 1 and 3)" in step

    checked = admin_client.post(uploaded["Location"], mapping_form_of(step), follow=True)
    assert "is named twice (columns 1 and 3)" in checked.content.decode()
    assert LeadImport.objects.get().status == ImportStatus.UPLOADED
    assert Lead.objects.count() == 0


def mapping_form_of(html: str) -> dict[str, str]:
    class Page:
        content = html.encode()

    return mapping_form(Page())


def test_an_unknown_desk_column_is_refused_in_the_admin_naming_it(admin_client):
    uploaded = upload(admin_client, "email,shoe_size\na@b.example,44\n")
    step = admin_client.get(uploaded["Location"]).content.decode()
    assert "Unknown column(s): &quot;shoe_size&quot; (column 2)" in step
    assert Lead.objects.count() == 0


def test_a_file_that_cannot_be_read_is_refused_at_the_admins_upload_naming_the_line(
    admin_client,
):
    response = admin_client.post(
        "/admin/leads/lead/import/",
        {
            "file": SimpleUploadedFile(
                "leads.csv", "email\nJ\u00fcrgen@x.example\n".encode("latin-1")
            )
        },
    )
    assert response.status_code == 200
    assert "line 2: not UTF-8 text" in response.content.decode()
    assert not LeadImport.objects.exists()


def test_the_admin_reads_a_hubspot_export_like_the_import_page(admin_client):
    dry_run(admin_client, HUBSPOT)
    confirm(admin_client)

    lead = Lead.objects.get(email="hana@acme.example")
    assert (lead.country, lead.employee_band, lead.source, lead.seniority) == (
        "DE",
        "201-500",
        "organic_search",
        "vp",
    )


def test_a_source_alias_is_added_in_the_admin_and_a_twin_spelling_is_refused(admin_client):
    response = admin_client.post(
        "/admin/leads/sourcealias/add/", {"name": "Carrier Pigeon", "source": "other"}
    )
    assert response.status_code == 302
    assert SourceAlias.objects.get(name="Carrier Pigeon").key == "carrierpigeon"

    twin = admin_client.post(
        "/admin/leads/sourcealias/add/", {"name": "carrier-pigeon", "source": "event"}
    )
    assert twin.status_code == 200
    assert "&quot;Carrier Pigeon&quot; already maps this name" in twin.content.decode()
