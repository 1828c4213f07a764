"""The leads admin: lists, a lead with many events, CSV import with preview, CSV export."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from leads import services
from leads.models import EngagementEvent, Lead, SourceAlias
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


def upload(client, content: str):
    return client.post(
        "/admin/leads/lead/import/",
        {
            "import_file": SimpleUploadedFile("leads.csv", content.encode(), "text/csv"),
            "format": "0",
            "resource": "0",
        },
    )


def confirm(client, preview):
    fields = dict(
        re.findall(
            rb'name="(import_file_name|original_file_name|format|resource)" value="([^"]*)"',
            preview.content,
        )
    )
    data = {k.decode(): v.decode() for k, v in fields.items()}
    return client.post("/admin/leads/lead/process_import/", data)


def test_an_import_is_previewed_before_anything_is_written_then_committed(admin_client):
    CampaignFactory(name="Spring")
    known = LeadFactory(email="known@corp.example", company="Corp", industry="retail")

    preview = upload(admin_client, GOOD_CSV)

    assert preview.status_code == 200
    assert b"Confirm import" in preview.content
    assert b"new.person@acme.example" in preview.content
    assert Lead.objects.count() == 1  # the preview wrote nothing

    done = confirm(admin_client, preview)

    assert done.status_code == 302
    new = Lead.objects.get(email="new.person@acme.example")
    assert (new.domain, new.country, new.campaign.name, new.owner.username) == (
        "acme.example",
        "US",
        "Spring",
        "mia.marketer",
    )
    assert new.score == 15 + 10 + 20 + 5  # rescored after the import
    known.refresh_from_db()
    assert (known.industry, known.company) == ("fintech", "Corp")  # empty cells left alone
    assert known.score == 15 + 10 + 5  # software, 201-500 and US from the factory


def test_bad_rows_are_listed_with_their_errors_and_nothing_can_be_committed(admin_client):
    content = (
        "email,employee_band,campaign\n"
        "fine@corp.example,201-500,\n"
        "not-an-email,huge,\n"
        "fine@corp.example,,Nope\n"
    )

    response = upload(admin_client, content)

    assert response.status_code == 200
    text = response.content.decode()
    assert "Confirm import" not in text
    assert "is not a valid email address" in text
    assert "&quot;huge&quot; is not a number of employees" in text
    assert "appears more than once in this file" in text
    assert "No campaign &quot;Nope&quot;" in text
    assert Lead.objects.count() == 0


def test_an_import_cannot_set_the_stage_or_score(admin_client):
    content = "email,stage,score\nx@corp.example,customer,999\n"
    confirm(admin_client, upload(admin_client, content))
    lead = Lead.objects.get()
    assert (lead.stage, lead.score) == ("lead", 0)


def test_a_marketer_cannot_import_leads_for_another_marketer(admin_client):
    UserFactory(username="other.marketer", role="Marketing")
    response = upload(admin_client, "email,owner\nx@corp.example,other.marketer\n")
    assert "Only a sales manager can give a lead to another marketer" in response.content.decode()
    assert Lead.objects.count() == 0


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
    response = upload(admin_client, "email,first_name,email\na@b.example,A,c@d.example\n")

    assert response.status_code == 200
    assert "The column &quot;email&quot; is named twice (columns 1 and 3)" in (
        response.content.decode()
    )
    assert "Confirm import" not in response.content.decode()
    assert Lead.objects.count() == 0


def test_an_unknown_desk_column_is_refused_in_the_admin_naming_it(admin_client):
    response = upload(admin_client, "email,shoe_size\na@b.example,44\n")
    assert "Unknown column(s): &quot;shoe_size&quot; (column 2)" in response.content.decode()
    assert Lead.objects.count() == 0


def test_the_admin_reads_a_hubspot_export_like_the_import_page(admin_client):
    preview = upload(admin_client, HUBSPOT)
    assert b"Confirm import" in preview.content, preview.content[-3000:]
    confirm(admin_client, preview)

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
