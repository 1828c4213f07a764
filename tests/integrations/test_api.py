"""The endpoints API (sales managers only), SSRF refusals at save and at send, team chat."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from integrations import services
from integrations.models import Attempt, Endpoint, Message
from tests.integrations.conftest import pump

pytestmark = pytest.mark.django_db

LIST = "/api/webhooks/endpoints/"


def detail(pk: int) -> str:
    return f"{LIST}{pk}/"


def test_a_manager_creates_an_endpoint_and_sees_its_secret_only_in_the_answer(
    world, client_for, receiver
):
    client = client_for(world.users["manager"])
    url = receiver().url
    answer = client.post(
        LIST,
        {"url": url, "description": "CRM", "event_types": ["handoff.accepted"]},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["secret"].startswith("whsec_")
    assert body["url"] == url and body["event_types"] == ["handoff.accepted"] and body["active"]
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert endpoint.secret == body["secret"]

    assert "secret" not in client.get(detail(endpoint.pk)).json()
    assert all("secret" not in row for row in client.get(LIST).json()["results"])

    patched = client.patch(detail(endpoint.pk), {"event_types": ["*"]}, format="json")
    assert patched.status_code == 200 and patched.json()["event_types"] == ["*"]

    rotated = client.post(f"{detail(endpoint.pk)}rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != body["secret"]
    assert rotated.json()["secret_rotation_ends_at"] is not None
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == body["secret"]

    assert client.delete(detail(endpoint.pk)).status_code == 204
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "rep"])
def test_only_managers_manage_endpoints(world, client_for, receiver, role):
    client = client_for(world.users[role])
    assert client.get(LIST).status_code == 403
    assert client.post(LIST, {"url": receiver().url}, format="json").status_code == 403
    assert not Endpoint.objects.exists()
    assert client_for(None).get(LIST).status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://user:pw@127.0.0.1:9/x"}, "url"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["handoff.eaten"]}, "event_types"),
        ({"url": "http://127.0.0.1:9/x", "event_types": "handoff.accepted"}, "event_types"),
        ({"url": "http://127.0.0.1:9/x", "secret": "whsec_mine"}, "secret"),
        ({"url": "http://127.0.0.1:9/x", "kind": "pager"}, "kind"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(world, client_for, body, field):
    answer = client_for(world.users["manager"]).post(LIST, body, format="json")
    assert answer.status_code == 400, answer.json()
    assert field in json.dumps(answer.json())
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
        "http://localhost:9/x",
    ],
)
def test_internal_addresses_are_refused_at_save_unless_allowed(world, client_for, settings, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    answer = client_for(world.users["manager"]).post(LIST, {"url": url}, format="json")
    assert answer.status_code == 400
    assert answer.json()["field"] == "url", answer.json()
    assert not Endpoint.objects.exists()


def test_production_refuses_plain_http(world, client_for, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    answer = client_for(world.users["manager"]).post(
        LIST, {"url": "http://127.0.0.1:9/x"}, format="json"
    )
    assert answer.status_code == 400 and "https" in json.dumps(answer.json())


def test_an_address_refused_at_send_time_is_never_contacted(world, receiver, settings):
    hook = receiver()
    endpoint = services.endpoint_create(
        data={"url": hook.url, "event_types": ["*"]}, actor=world.users["manager"]
    )
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # e.g. the name now resolves to a loopback address
    world.promote("rep")
    pump()
    assert hook.received == [] and hook.refused == []
    attempt = Attempt.objects.filter(endpoint=endpoint).first()
    assert attempt is not None and attempt.error.startswith("Refused")
    assert Message.objects.filter(endpoint=endpoint, status="pending").exists()


@pytest.mark.parametrize("size", [3, 12])
def test_the_endpoint_list_costs_a_constant_number_of_queries(
    world, client_for, django_assert_max_num_queries, size
):
    for n in range(size):
        Endpoint.objects.create(
            url=f"http://127.0.0.1:{9000 + n}/x",
            event_types=["*"],
            secret="whsec_x",
            created_at=dt.datetime.now(dt.UTC),
            updated_at=dt.datetime.now(dt.UTC),
        )
    client = client_for(world.users["manager"])
    with django_assert_max_num_queries(4):
        answer = client.get(LIST)
    assert answer.json()["count"] == size


def test_a_team_chat_gets_breach_and_at_risk_alerts_with_a_link_and_nothing_else(
    world, receiver, settings
):
    settings.SITE_URL = "https://desk.example"
    chat = receiver()
    services.endpoint_create(
        data={"url": chat.url, "kind": "chat", "team": world.teams["a"]},
        actor=world.users["manager"],
    )
    other_team_chat = receiver()
    services.endpoint_create(
        data={"url": other_team_chat.url, "kind": "chat", "team": world.teams["b"]},
        actor=world.users["manager"],
    )
    handoff = world.promote("rep")
    from handoff.services import handoff_accept
    from handoff.sweep import sla_sweep

    handoff_accept(handoff=world.promote("rep"), actor=world.users["rep"])
    with time_machine.travel(handoff.due_at + dt.timedelta(minutes=1)):
        sla_sweep()
    pump()

    [message] = chat.received
    body = json.loads(message.body)
    assert "SLA breached" in body["text"]
    link = f"https://desk.example/handoffs/{handoff.pk}/"
    assert link in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert body["blocks"][1]["elements"][0]["url"] == link
    assert other_team_chat.received == []


def test_a_chat_endpoint_cannot_subscribe_to_other_events(world, client_for):
    answer = client_for(world.users["manager"]).post(
        LIST,
        {"url": "http://127.0.0.1:9/x", "kind": "chat", "event_types": ["handoff.accepted"]},
        format="json",
    )
    assert answer.status_code == 400 and "event_types" in json.dumps(answer.json())
