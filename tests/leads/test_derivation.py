"""One rule per derived field: seniority from the title and domain from the email, the same
whichever way a lead is written (admin add and edit, API, bulk API, CSV import)."""

from __future__ import annotations

import pytest

from leads.models import Lead

pytestmark = pytest.mark.usefixtures("default_rules")


@pytest.fixture
def staff_client(client, marketer):
    marketer.is_staff = True
    marketer.save()
    client.force_login(marketer)
    return client


def admin_form(**values):
    form = {
        "email": "",
        "first_name": "",
        "last_name": "",
        "phone": "",
        "title": "",
        "seniority": "",
        "company": "",
        "domain": "",
        "industry": "",
        "employee_band": "",
        "country": "",
        "source": "other",
        "campaign": "",
        "owner": "",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "stage_changes-TOTAL_FORMS": "0",
        "stage_changes-INITIAL_FORMS": "0",
    }
    form.update(values)
    return form


def test_a_lead_added_in_the_admin_with_a_vp_title_is_a_vp_like_through_the_api(
    staff_client, marketer, client_for
):
    response = staff_client.post(
        "/admin/leads/lead/add/",
        admin_form(email="Vera@Acme.example", title="VP Engineering"),
    )
    assert response.status_code == 302, response.content[:2000]
    by_admin = Lead.objects.get(email="vera@acme.example")

    api = client_for(marketer).post(
        "/api/leads/",
        {"email": "vic@acme.example", "title": "VP Engineering", "source": "other"},
        format="json",
    )
    assert api.status_code == 201, api.content
    by_api = Lead.objects.get(email="vic@acme.example")

    assert (by_admin.seniority, by_admin.domain) == ("vp", "acme.example")
    assert (by_api.seniority, by_api.domain) == ("vp", "acme.example")
    assert by_admin.score == by_api.score


def test_changing_the_title_in_the_admin_derives_the_seniority_again(staff_client):
    staff_client.post(
        "/admin/leads/lead/add/", admin_form(email="ann@acme.example", title="Engineer")
    )
    lead = Lead.objects.get(email="ann@acme.example")
    assert lead.seniority == "individual"

    response = staff_client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        admin_form(
            email="ann@acme.example", title="Chief Technology Officer", seniority="individual"
        ),
    )

    assert response.status_code == 302, response.content[:2000]
    lead.refresh_from_db()
    # The form sent the old seniority back unchanged: the new title decides.
    assert lead.seniority == "c_level"


def test_a_seniority_chosen_with_the_title_is_kept(staff_client):
    staff_client.post(
        "/admin/leads/lead/add/",
        admin_form(email="bo@acme.example", title="VP Engineering", seniority="director"),
    )
    assert Lead.objects.get(email="bo@acme.example").seniority == "director"


def test_the_bulk_api_and_the_single_api_agree_on_a_blank_seniority(marketer, client_for):
    api = client_for(marketer)
    api.post(
        "/api/leads/bulk/",
        {"leads": [{"email": "a@b.example", "title": "Head of Sales", "seniority": ""}]},
        format="json",
    )
    api.post(
        "/api/leads/",
        {"email": "c@b.example", "title": "Head of Sales", "seniority": "", "source": "other"},
        format="json",
    )
    assert set(Lead.objects.values_list("seniority", flat=True)) == {"director"}
