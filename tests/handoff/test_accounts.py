"""Accounts on the sales side: routing to the account owner, the promotion preview, the account
pages and API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from handoff import services, time_off
from leads.models import Account
from tests.factories import LeadFactory
from tests.handoff.world import TUESDAY_10, World, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def account(domain: str = "acme.example", owner=None) -> Account:
    now = timezone.now()
    return Account.objects.create(
        domain=domain, name=domain.split(".")[0].title(), owner=owner, created_at=now,
        updated_at=now,
    )  # fmt: skip


def test_a_team_routing_to_account_owners_gives_the_lead_to_the_owner(world):
    world.team.route_to_account_owner = True
    world.team.save()
    acme = account(owner=world.other_rep)
    handoff = world.promote(world.lead(account=acme))
    assert handoff.assigned_to == world.other_rep
    assert handoff.routing["account_owner"]["outcome"] == "chosen"
    # The owner's turn is not a rotation turn: the next lead without an owner goes to Rob.
    assert world.promote().assigned_to == world.rep


def test_an_account_owner_on_time_off_falls_back_to_the_rotation_and_says_so(world):
    world.team.route_to_account_owner = True
    world.team.save()
    day = TUESDAY_10.date()
    time_off.time_off_create(actor=world.manager, rep=world.other_rep, starts_on=day, ends_on=day)
    handoff = world.promote(world.lead(account=account(owner=world.other_rep)))
    assert handoff.assigned_to == world.rep
    assert handoff.routing["account_owner"]["outcome"] == "time_off"
    assert "account owner on time off" in handoff.routing["account_owner"]["detail"]


def test_without_the_team_option_the_rotation_decides(world):
    handoff = world.promote(world.lead(account=account(owner=world.other_rep)))
    assert handoff.assigned_to == world.rep
    assert handoff.routing["account_owner"] is None


def test_the_preview_says_the_account_has_an_owner_and_an_open_handoff(world):
    acme = account(owner=world.other_rep)
    first = world.promote(world.lead(account=acme))
    preview = services.promotion_preview(lead=world.lead(account=acme), now=TUESDAY_10)
    assert preview["account"]["owner"]["username"] == "olga.rep"
    assert [h["id"] for h in preview["account"]["open_handoffs"]] == [first.pk]
    page = Client()
    page.force_login(world.marketer)
    html = page.get(f"/leads/{world.lead(account=acme).pk}/promote/preview/").content.decode()
    assert 'id="preview-account"' in html
    assert "owned by <strong>olga.rep</strong>" in html
    assert "1 open handoff" in html


def test_the_account_page_lists_leads_and_open_handoffs(world):
    acme = account(owner=world.rep)
    ann = world.lead(account=acme, email="ann@acme.example")
    handoff = world.promote(ann)
    bob = LeadFactory(account=acme, email="bob@acme.example")
    page = Client()
    page.force_login(world.marketer)
    html = page.get(f"/accounts/{acme.pk}/").content.decode()
    assert ann.full_name in html and bob.full_name in html
    assert f"#{handoff.pk}" in html[html.index('id="open-handoffs"') :]
    assert "2 leads" in html


def test_a_rep_sees_only_accounts_of_leads_handed_to_them(world, client_for):
    mine, other = account("mine.example"), account("other.example")
    world.promote(world.lead(account=mine))  # to rob.rep
    LeadFactory(account=other)
    listed = client_for(world.rep).get("/api/accounts/").json()["results"]
    assert [a["domain"] for a in listed] == ["mine.example"]
    assert client_for(world.rep).get(f"/api/accounts/{other.pk}/").status_code == 404
    assert client_for(world.marketer).get(f"/api/accounts/{other.pk}/").status_code == 200


def test_the_account_detail_api_carries_leads_handoffs_and_aliases(world, client_for):
    acme = account(owner=world.rep)
    alias = account("acme-corp.example")
    alias.merged_into = acme
    alias.save()
    handoff = world.promote(world.lead(account=acme))
    body = client_for(world.manager).get(f"/api/accounts/{acme.pk}/").json()
    assert body["aliases"] == ["acme-corp.example"]
    assert body["owner"]["username"] == "rob.rep"
    assert [h["id"] for h in body["handoffs"]] == [handoff.pk]
    assert body["handoffs"][0]["is_open"] is True
    assert body["lead_count"] == 1


@pytest.mark.parametrize("size", [5, 40])
def test_account_lists_take_a_constant_number_of_queries(
    world, client_for, django_assert_max_num_queries, size
):
    for n in range(45):
        acme = account(f"co{n}.example", owner=world.rep if n % 2 else None)
        LeadFactory(account=acme)
    with django_assert_max_num_queries(4):
        response = client_for(world.manager).get(f"/api/accounts/?page_size={size}")
    assert len(response.json()["results"]) == size
    page = Client()
    page.force_login(world.manager)
    with django_assert_max_num_queries(8):
        assert page.get(f"/accounts/?per={25 if size == 5 else 50}").status_code == 200
    with django_assert_max_num_queries(12):
        assert page.get(f"/accounts/{acme.pk}/").status_code == 200
