"""Inbound CRM events: signed like our own webhooks, applied once, refused whole when wrong."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations import services
from integrations.models import InboundEvent
from leads.models import Lead

pytestmark = pytest.mark.django_db

URL = "/api/integrations/crm/events/"


@pytest.fixture
def crm(world):
    return services.crm_integration_create(name="Twenty", actor=world.users["manager"])


def send(
    client, secret: str, payload, *, msg_id: str | None = None, at=None, raw: bytes | None = None
):
    body = raw if raw is not None else json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or timezone.now()
    headers = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, at, body),
    }
    return client.generic("POST", URL, body, content_type="application/json", **headers)


def contact_updated(email: str, **changes) -> dict:
    return {
        "type": "contact.updated",
        "timestamp": timezone.now().isoformat(),
        "data": {"email": email, "changes": changes},
    }


def test_a_signed_contact_update_changes_the_lead_once_per_webhook_id(world, crm, client):
    lead = world.lead(title="Engineer", phone="")
    payload = contact_updated(lead.email, title="VP Engineering", phone="+44 20 7946 0000")

    answer = send(client, crm.secret, payload, msg_id="msg_1")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "applied"
    lead.refresh_from_db()
    assert (lead.title, lead.phone) == ("VP Engineering", "+44 20 7946 0000")
    assert lead.seniority == "vp"  # the lead service derived it, as for any edit

    Lead.objects.filter(pk=lead.pk).update(title="Changed here since")
    again = send(client, crm.secret, payload, msg_id="msg_1")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    lead.refresh_from_db()
    assert lead.title == "Changed here since"
    assert InboundEvent.objects.filter(webhook_id="msg_1", status="applied").count() == 1


@pytest.mark.parametrize(
    ("how", "detail"),
    [
        ("wrong secret", "No matching signature"),
        ("old timestamp", "too old"),
        ("future timestamp", "too new"),
        ("no headers", "Missing required headers"),
    ],
)
def test_an_unverified_event_is_a_401_and_changes_nothing(world, crm, client, how, detail):
    lead = world.lead(title="Engineer")
    payload = contact_updated(lead.email, title="CEO")
    if how == "wrong secret":
        answer = send(client, services.signing.new_secret(), payload)
    elif how == "old timestamp":
        answer = send(client, crm.secret, payload, at=timezone.now() - dt.timedelta(minutes=6))
    elif how == "future timestamp":
        answer = send(client, crm.secret, payload, at=timezone.now() + dt.timedelta(minutes=6))
    else:
        answer = client.post(URL, payload, content_type="application/json")
    assert answer.status_code == 401
    assert detail in answer.json()["detail"]
    lead.refresh_from_db()
    assert lead.title == "Engineer"
    assert not InboundEvent.objects.exists()


def test_the_previous_secret_still_verifies_for_a_day_after_a_rotation(world, crm, client):
    lead = world.lead()
    old = crm.secret
    services.crm_integration_rotate_secret(integration=crm, actor=world.users["manager"])
    assert send(client, old, contact_updated(lead.email, title="CTO")).status_code == 200
    assert send(client, crm.secret, contact_updated(lead.email, title="CFO")).status_code == 200


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"type": "deal.eaten", "data": {}}, "type", "Unknown event type"),
        ({"data": {}}, "type", "Give the event type"),
        ({"type": "contact.updated", "data": []}, "data", "object"),
        ({"type": "contact.updated", "data": {"changes": {"title": "x"}}}, "data.email", "email"),
        (
            {
                "type": "contact.updated",
                "data": {"email": "nobody@nowhere.example", "changes": {"title": "x"}},
            },
            "data.email",
            "No lead",
        ),
        ("LEAD", "data.changes.stage", "cannot be changed"),
        ("COUNTRY", "data.changes.country", ""),
        ("[1, 2]", "body", "object"),
    ],
)
def test_a_malformed_or_unknown_event_is_a_400_naming_what_is_wrong_logged_and_nothing_written(
    world, crm, client, payload, field, words
):
    lead = world.lead(title="Engineer", country="US")
    if payload == "LEAD":
        payload = contact_updated(lead.email, title="CEO", stage="customer")
    elif payload == "COUNTRY":
        payload = contact_updated(lead.email, title="CEO", country="United Kingdom")
    raw = payload.encode() if isinstance(payload, str) else None
    answer = send(client, crm.secret, payload, msg_id="msg_bad", raw=raw)
    assert answer.status_code == 400, answer.json()
    assert answer.json()["field"] == field
    assert words in json.dumps(answer.json())
    lead.refresh_from_db()
    assert (lead.title, lead.country) == ("Engineer", "US")
    [logged] = InboundEvent.objects.all()
    assert logged.status == "rejected" and field in logged.error and logged.webhook_id == "msg_bad"


def test_a_body_that_is_not_json_is_a_400_naming_the_body(world, crm, client):
    answer = send(client, crm.secret, None, raw=b"{not json")
    assert answer.status_code == 400 and answer.json()["field"] == "body"


BANT = {"budget": "50k", "authority": "CFO", "need": "Reports", "timeline": "Q3"}


def qualified(world):
    from handoff.services import handoff_qualify

    return handoff_qualify(handoff=world.accepted("rep"), actor=world.users["rep"], bant=BANT)


def opportunity_event(type_: str, **data) -> dict:
    return {"type": type_, "timestamp": timezone.now().isoformat(), "data": data}


def test_a_crm_signed_opportunity_won_updates_the_desk(world, crm, client):
    from pipeline.models import Opportunity

    handoff = qualified(world)
    opened = send(
        client,
        crm.secret,
        opportunity_event(
            "opportunity.updated",
            external_id="CRM-7",
            email=handoff.lead.email,
            amount="12000",
            currency="EUR",
        ),
    )
    assert opened.status_code == 200, opened.json()
    assert opened.json()["result"]["status"] == "created"
    opportunity = Opportunity.objects.get(external_id="CRM-7")
    assert (opportunity.stage, str(opportunity.amount)) == ("open", "12000.00")

    won = send(client, crm.secret, opportunity_event("opportunity.won", external_id="CRM-7"))
    assert won.status_code == 200, won.json()
    opportunity.refresh_from_db()
    assert opportunity.stage == "won"
    assert Lead.objects.get(pk=handoff.lead_id).stage == "customer"

    # A closed opportunity is never rewritten: the sync's 409, and nothing changes.
    lost = send(
        client,
        crm.secret,
        opportunity_event("opportunity.lost", external_id="CRM-7", lost_reason="price"),
    )
    assert lost.status_code == 409, lost.json()
    opportunity.refresh_from_db()
    assert opportunity.stage == "won"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"external_id": "CRM-8", "amount": "-5"}, "data.amount"),
        ({"email": "x@example.com"}, "data.external_id"),
        ({"external_id": "CRM-8", "stage": "won"}, "data.stage"),
        ({"external_id": "CRM-8", "colour": "red"}, "data.colour"),
        ({"external_id": "CRM-404"}, "data.external_id"),
    ],
)
def test_a_bad_opportunity_event_is_a_400_naming_the_field_and_writes_nothing(
    world, crm, client, data, field
):
    from pipeline.models import Opportunity

    qualified(world)
    answer = send(client, crm.secret, opportunity_event("opportunity.updated", **data))
    assert answer.status_code == 400, answer.json()
    assert answer.json()["field"] == field
    assert not Opportunity.objects.exists()
    assert InboundEvent.objects.get().status == "rejected"
