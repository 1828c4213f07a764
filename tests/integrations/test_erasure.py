"""Erasing a person scrubs them from webhook messages (sent or not) and the delivery log."""

from __future__ import annotations

import pytest

from config.erasure import erase_person
from integrations import services
from integrations.models import Attempt, Message
from tests.integrations.conftest import fan_out, pump

pytestmark = pytest.mark.django_db


def test_erasure_scrubs_undelivered_messages_and_the_delivery_log(world, receiver):
    echo = receiver(status=500, answer=lambda request: (500, request.body, {}))
    endpoint = services.endpoint_create(
        data={"url": echo.url, "event_types": ["*"]}, actor=world.users["manager"]
    )
    lead = world.lead(first_name="Zelda", last_name="Quartermaine", company="Acme")
    world.promote("rep", lead=lead)
    pump()
    assert Attempt.objects.filter(endpoint=endpoint, response_excerpt__contains=lead.email)
    world.promote("rep_other")  # someone else's message stays as it was
    fan_out()

    erase_person(email=lead.email, actor=world.users["manager"])

    about_lead = Message.objects.filter(lead_id=lead.pk)
    assert about_lead.count() == 2 and about_lead.filter(status="pending").count() == 2
    for message in about_lead:
        assert lead.email not in message.body
        assert "Zelda" not in message.body and "Quartermaine" not in message.body
        assert '"type":"' in message.body  # still a valid envelope, sent as erased
    for attempt in Attempt.objects.filter(endpoint=endpoint):
        assert lead.email not in attempt.response_excerpt
        assert "Zelda" not in attempt.response_excerpt
    others = Message.objects.exclude(lead_id=lead.pk)
    assert others.exists() and all("@" in m.body for m in others)
