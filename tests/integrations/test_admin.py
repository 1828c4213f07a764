"""The integrations admin: a manager creates an endpoint (its secret shown once), reads the
delivery log, redelivers a message and replays an endpoint since a moment."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from handoff import services as handoff_services
from integrations.models import Attempt, Endpoint, Message
from tests.integrations.conftest import pump

pytestmark = pytest.mark.django_db


def manager_client(world) -> Client:
    client = Client()
    client.force_login(world.users["manager"])
    return client


def test_a_manager_creates_an_endpoint_in_the_admin_and_its_receiver_gets_the_accept(
    world, receiver
):
    hook = receiver()
    client = manager_client(world)
    answer = client.post(
        "/admin/integrations/endpoint/add/",
        {
            "kind": "webhook",
            "url": hook.url,
            "description": "CRM",
            "event_types": '["handoff.accepted"]',
            "active": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    endpoint = Endpoint.objects.get()
    [shown] = [str(m) for m in get_messages(answer.wsgi_request) if "whsec_" in str(m)]
    assert re.search(r"whsec_\S+", shown).group(0) == endpoint.secret
    # Only in that message: the endpoint's screens have no secret field.
    from integrations.admin import EndpointAdmin, EndpointForm

    assert "secret" not in EndpointForm.Meta.fields
    assert "secret" not in EndpointAdmin.readonly_fields

    handoff_services.handoff_accept(handoff=world.promote("rep"), actor=world.users["rep"])
    pump()
    [request] = hook.received
    assert (
        Webhook(endpoint.secret).verify(request.body, request.headers)["type"] == "handoff.accepted"
    )

    log = client.get("/admin/integrations/message/")
    assert log.status_code == 200 and "handoff.accepted" in log.content.decode()
    message = Message.objects.get()
    page = client.get(f"/admin/integrations/message/{message.pk}/change/").content.decode()
    assert "200" in page  # the attempt's status code in the log


def test_the_admin_refuses_an_internal_url_naming_the_field(world, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    answer = manager_client(world).post(
        "/admin/integrations/endpoint/add/",
        {"kind": "webhook", "url": "http://127.0.0.1:9/x", "event_types": '["*"]', "active": "on"},
    )
    assert answer.status_code == 200
    assert "cannot receive events" in answer.content.decode()
    assert not Endpoint.objects.exists()


def test_redeliver_and_replay_since_from_the_admin(world, receiver):
    hook = receiver()
    client = manager_client(world)
    since = timezone.now()
    from integrations.services import endpoint_create

    endpoint = endpoint_create(
        data={"url": hook.url, "event_types": ["lead.promoted"]}, actor=world.users["manager"]
    )
    world.promote("rep")
    pump()
    message = Message.objects.get()
    client.post(
        "/admin/integrations/message/",
        {"action": "redeliver", "_selected_action": [message.pk]},
    )
    pump()
    assert len(hook.received) == 2
    client.post(
        "/admin/integrations/endpoint/",
        {
            "action": "replay_since",
            "_selected_action": [endpoint.pk],
            "since_0": since.strftime("%Y-%m-%d"),
            "since_1": since.strftime("%H:%M:%S"),
        },
    )
    pump()
    assert len(hook.received) == 3
    assert {r.headers["webhook-id"] for r in hook.received} == {message.event_id}
    assert Attempt.objects.filter(message=message).count() == 3


@pytest.mark.parametrize("role", ["marketer", "rep"])
def test_only_managers_see_the_integrations_admin(world, role):
    client = Client()
    user = world.users[role]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    for model in ("endpoint", "message", "attempt", "crmintegration", "inboundevent"):
        assert client.get(f"/admin/integrations/{model}/").status_code in (302, 403)
