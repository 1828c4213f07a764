"""Accounts: leads matched by company domain on every way in, free mail never, merges, and the
bulk backfill."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import Forbidden
from leads import accounts, services
from leads.models import Account, Lead

pytestmark = pytest.mark.usefixtures("default_rules")


def test_a_lead_created_in_the_api_joins_its_companys_account(client_for, marketer):
    api = client_for(marketer)
    first = api.post(
        "/api/leads/", {"email": "ana@Acme.example", "company": "Acme"}, format="json"
    ).json()
    second = api.post("/api/leads/", {"email": "bo@acme.example"}, format="json").json()
    assert first["account"] is not None
    assert second["account"] == first["account"]
    account = Account.objects.get(pk=first["account"])
    assert (account.domain, account.name) == ("acme.example", "Acme")


def test_free_mail_and_a_company_name_without_a_domain_match_nothing(client_for, marketer):
    api = client_for(marketer)
    gmail = api.post(
        "/api/leads/", {"email": "ana@gmail.com", "company": "Acme"}, format="json"
    ).json()
    assert gmail["account"] is None
    assert accounts.account_domain("") == ""
    assert accounts.account_domain("outlook.com") == ""
    assert not Account.objects.exists()


def test_www_and_case_normalise_to_one_account():
    assert accounts.account_domain(" WWW.Acme.Example. ") == "acme.example"


def test_a_bulk_batch_matches_accounts_in_a_constant_number_of_queries(
    client_for, marketer, django_assert_max_num_queries
):
    api = client_for(marketer)

    def batch(n: int, offset: int) -> dict:
        return {
            "leads": [
                {"email": f"p{offset + i}@co{(offset + i) % 7}.example", "company": f"Co {i % 7}"}
                for i in range(n)
            ]
        }

    with django_assert_max_num_queries(40) as small:
        api.post("/api/leads/bulk/", json.dumps(batch(5, 0)), content_type="application/json")
    with django_assert_max_num_queries(len(small.captured_queries)):
        api.post("/api/leads/bulk/", json.dumps(batch(60, 100)), content_type="application/json")
    assert Account.objects.count() == 7
    assert Lead.objects.filter(account__isnull=True).count() == 0
    assert Account.objects.get(domain="co3.example").leads.count() == 10


def test_changing_a_leads_domain_moves_it_to_the_other_account(marketer):
    lead = services.lead_create(data={"email": "x@one.example"}, actor=marketer)
    updated = services.lead_update(lead=lead, data={"domain": "two.example"}, actor=marketer)
    assert updated.account.domain == "two.example"


def test_the_csv_import_matches_accounts(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,company\na@imp.example,Imp\nb@imp.example,Imp\nc@gmail.com,\n")
    call_command("import_leads", str(path), "--no-progress", stdout=io.StringIO())
    assert Account.objects.get(domain="imp.example").leads.count() == 2
    assert Lead.objects.get(email="c@gmail.com").account_id is None


def test_merging_moves_the_leads_and_keeps_the_domain_as_an_alias(marketer, manager):
    a = services.lead_create(data={"email": "a@acme.example"}, actor=marketer)
    b = services.lead_create(data={"email": "b@acme-corp.example"}, actor=marketer)
    target, duplicate = a.account, b.account
    moved = accounts.accounts_merge(target=target, duplicates=[duplicate], actor=manager)
    assert moved == 1
    assert Lead.objects.get(pk=b.pk).account_id == target.pk
    later = services.lead_create(data={"email": "c@acme-corp.example"}, actor=marketer)
    assert later.account_id == target.pk


def test_only_managers_merge_accounts(marketer):
    a = services.lead_create(data={"email": "a@m1.example"}, actor=marketer)
    b = services.lead_create(data={"email": "a@m2.example"}, actor=marketer)
    with pytest.raises(Forbidden):
        accounts.accounts_merge(target=a.account, duplicates=[b.account], actor=marketer)


def test_the_backfill_matches_every_lead_without_an_account():
    now = timezone.now()
    Lead.objects.bulk_create(
        [Lead(email=f"l{i}@firm{i % 3}.example", domain=f"firm{i % 3}.example") for i in range(9)]
        + [
            Lead(email="free@gmail.com", domain="gmail.com"),
            Lead(email="w@www.firm0.example", domain="www.firm0.example"),
        ]
    )
    Account.objects.create(domain="firm1.example", name="Firm One", created_at=now, updated_at=now)
    out = io.StringIO()
    call_command("accounts_backfill", stdout=out)
    assert "10 leads matched, 2 accounts created" in out.getvalue()
    assert Account.objects.get(domain="firm0.example").leads.count() == 4
    assert Account.objects.get(domain="firm1.example").name == "Firm One"
    assert Lead.objects.get(email="free@gmail.com").account_id is None
