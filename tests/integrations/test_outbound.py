"""Outbound webhooks: what a receiver verifying with `standardwebhooks` gets, and how delivery
answers each kind of receiver (a 2xx, a 410, an error, a redirect, silence)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from feedback import services as feedback_services
from feedback.models import ReturnFeedback
from handoff import services as handoff_services
from handoff.sweep import sla_sweep
from integrations import delivery, services
from integrations.models import Attempt, Endpoint, Message
from tests.integrations.conftest import events_of, fan_out, pump

pytestmark = pytest.mark.django_db


def make_endpoint(world, url: str, **data) -> Endpoint:
    return services.endpoint_create(
        data={"url": url, "event_types": ["*"], **data}, actor=world.users["manager"]
    )


def verified(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def test_an_accepted_handoff_reaches_a_receiver_that_verifies_it_with_standardwebhooks(
    world, receiver
):
    hook = receiver()
    endpoint = make_endpoint(world, hook.url, event_types=["handoff.accepted"])
    handoff = world.promote("rep")

    handoff_services.handoff_accept(handoff=handoff, actor=world.users["rep"])
    pump()

    [request] = hook.received
    body = verified(endpoint.secret, request)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "handoff.accepted"
    assert body["data"]["handoff"] == {
        **body["data"]["handoff"],
        "id": handoff.pk,
        "status": "accepted",
    }
    assert body["data"]["lead"] == {
        "id": handoff.lead.pk,
        "name": handoff.lead.full_name,
        "company": handoff.lead.company,
        "email": handoff.lead.email,
    }
    assert body["data"]["rep"] == {"id": world.users["rep"].pk, "username": "rob.rep"}
    assert body["data"]["team"] == {"id": world.teams["a"].pk, "name": "Team A"}
    assert request.headers["webhook-id"].startswith("msg_")
    signature = request.headers["webhook-signature"]
    assert signature.startswith("v1,") and " " not in signature
    assert abs(int(request.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    with pytest.raises(WebhookVerificationError):
        Webhook(services.signing.new_secret()).verify(request.body, request.headers)


def test_the_secret_is_whsec_and_base64_of_at_least_24_random_bytes(world, receiver):
    endpoint = make_endpoint(world, receiver().url)
    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) >= 24
    assert make_endpoint(world, receiver().url).secret != endpoint.secret


def test_every_change_publishes_its_event_type(world, receiver):
    endpoint = make_endpoint(world, receiver().url)
    rep, marketer, manager = (world.users[r] for r in ("rep", "marketer", "manager"))

    first = world.promote("rep")
    handoff_services.handoff_request_info(handoff=first, actor=rep, question="Budget?")
    handoff_services.handoff_provide_info(handoff=first, actor=marketer, answer="50k")
    handoff_services.handoff_accept(handoff=first, actor=rep)
    handoff_services.handoff_qualify(
        handoff=first,
        actor=rep,
        bant={"budget": "50k", "authority": "CFO", "need": "Reports", "timeline": "Q3"},
    )
    second = world.promote("rep")
    handoff_services.handoff_reassign(handoff=second, actor=manager, to_rep=world.users["rep_mate"])
    third = world.promote(None)
    feedback_services.feedback_return_handoff(handoff=third, actor=manager, reason="not-ready")
    feedback_services.feedback_acknowledge(
        feedback=ReturnFeedback.objects.get(handoff=third),
        actor=marketer,
        reply="We disagree.",
        follow_up="dispute",
    )
    fourth = world.promote("rep")
    with time_machine.travel(fourth.due_at + dt.timedelta(minutes=1)):
        sla_sweep()
    from pipeline import services as pipeline_services

    bant = {"budget": "50k", "authority": "CFO", "need": "Reports", "timeline": "Q3"}
    deals = []
    for _ in range(2):
        sql = handoff_services.handoff_qualify(handoff=world.accepted("rep"), actor=rep, bant=bant)
        deals.append(
            pipeline_services.opportunity_open(
                handoff=sql, actor=rep, amount="1000", expected_close_date=dt.date(2027, 1, 15)
            )
        )
    pipeline_services.opportunity_update(opportunity=deals[0], actor=rep, amount="1500")
    pipeline_services.opportunity_win(opportunity=deals[0], actor=rep)
    pipeline_services.opportunity_lose(opportunity=deals[1], actor=rep, reason="price")
    fifth = world.promote("rep_other")
    with time_machine.travel(fifth.at_risk_at + dt.timedelta(seconds=30)):
        sla_sweep()
    fan_out()

    assert set(events_of(endpoint)) == set(services.EVENT_TYPES)
    won = next(m for m in Message.objects.filter(endpoint=endpoint, event_type="opportunity.won"))
    data = json.loads(won.body)["data"]
    assert data["opportunity"] == {**data["opportunity"], "stage": "won", "amount": "1500.00"}
    assert data["lead"]["id"] == deals[0].lead_id
    # The order of a handoff's own events is the order of the changes.
    first_events = [
        json.loads(m.body)["type"]
        for m in Message.objects.filter(endpoint=endpoint).order_by("id")
        if json.loads(m.body)["data"].get("handoff", {}).get("id") == first.pk
    ]
    assert first_events == [
        "lead.promoted",
        "handoff.assigned",
        "handoff.info_requested",
        "handoff.info_provided",
        "handoff.accepted",
        "handoff.qualified",
    ]


def test_an_endpoint_gets_only_the_types_it_subscribed_to(world, receiver):
    only_accepts = make_endpoint(world, receiver().url, event_types=["handoff.accepted"])
    everything = make_endpoint(world, receiver().url)
    handoff = world.promote("rep")
    handoff_services.handoff_accept(handoff=handoff, actor=world.users["rep"])
    fan_out()
    assert events_of(only_accepts) == ["handoff.accepted"]
    assert events_of(everything) == ["lead.promoted", "handoff.assigned", "handoff.accepted"]


def test_a_rolled_back_change_publishes_nothing(world, receiver):
    endpoint = make_endpoint(world, receiver().url)
    handoff = world.promote("rep")
    fan_out()
    before = Message.objects.filter(endpoint=endpoint).count()
    with pytest.raises(Exception, match="Only the assigned rep"):
        handoff_services.handoff_accept(handoff=handoff, actor=world.users["rep_other"])
    fan_out()
    assert Message.objects.filter(endpoint=endpoint).count() == before


def test_no_endpoint_means_no_outbox_rows_for_events(world):
    from core.models import OutboxMessage
    from leads.events import FANOUT_TASK

    world.promote("rep")
    assert not OutboxMessage.objects.filter(task=FANOUT_TASK).exists()


def test_a_failed_delivery_is_retried_with_the_same_webhook_id_after_a_jittered_backoff(
    world, receiver
):
    hook = receiver(status=503)
    endpoint = make_endpoint(world, hook.url, event_types=["lead.promoted"])
    world.promote("rep")
    before = timezone.now()
    pump()

    message = Message.objects.get(endpoint=endpoint)
    assert message.status == "pending" and message.attempts == 1
    wait = (message.next_attempt_at - before).total_seconds()
    assert 5 * 0.8 - 1 <= wait <= 5 * 1.2 + 1
    [attempt] = Attempt.objects.filter(message=message)
    assert attempt.status_code == 503 and attempt.response_excerpt == "ok"

    hook.status = 200
    delivery.endpoint_deliver(endpoint_id=endpoint.pk)
    assert len(hook.received) == 0  # not due yet
    with time_machine.travel(message.next_attempt_at + dt.timedelta(seconds=1)):
        delivery.endpoint_deliver(endpoint_id=endpoint.pk)
    [request] = hook.received
    assert request.headers["webhook-id"] == hook.refused[0].headers["webhook-id"]
    assert request.body == hook.refused[0].body
    message.refresh_from_db()
    assert message.status == "delivered" and message.attempts == 2


def test_the_backoff_grows_with_jitter_and_gives_up_after_about_three_days(settings):
    schedule = [float(s) for s in settings.WEBHOOK_RETRY_SCHEDULE_SECONDS]
    assert schedule[0] == 5 and schedule == sorted(schedule)
    assert 70 <= sum(schedule) / 3600 <= 76
    delays = [delivery.retry_delay(n) for n in range(1, len(schedule) + 2)]
    assert delays[-1] is None
    for base, wait in zip(schedule, delays, strict=False):
        assert wait is not None and 0.8 * base <= wait.total_seconds() <= 1.2 * base
    jittered = {delivery.retry_delay(3) for _ in range(20)}
    assert len(jittered) > 1


def test_a_410_disables_the_endpoint_and_a_redirect_is_not_followed(world, receiver):
    target = receiver()
    gone = receiver(status=410)
    moved = receiver(status=302, headers={"Location": target.url})
    gone_endpoint = make_endpoint(world, gone.url, event_types=["lead.promoted"])
    moved_endpoint = make_endpoint(world, moved.url, event_types=["lead.promoted"])
    world.promote("rep")
    pump()

    gone_endpoint.refresh_from_db()
    assert not gone_endpoint.active and "410" in gone_endpoint.disabled_reason
    assert target.received == []
    [attempt] = Attempt.objects.filter(endpoint=moved_endpoint)
    assert attempt.status_code == 302
    assert Message.objects.get(endpoint=moved_endpoint).status == "pending"


def test_only_the_first_kilobyte_of_the_answer_is_read(world, receiver):
    hook = receiver(body=b"x" * 100_000)
    endpoint = make_endpoint(world, hook.url, event_types=["lead.promoted"])
    world.promote("rep")
    pump()
    [attempt] = Attempt.objects.filter(endpoint=endpoint)
    assert attempt.status_code == 200 and len(attempt.response_excerpt) == 1024


def test_a_receiver_slower_than_the_total_timeout_counts_as_a_failure(world, receiver, settings):
    settings.WEBHOOK_TOTAL_TIMEOUT_SECONDS = 0.5
    hook = receiver(delay=1.5)
    endpoint = make_endpoint(world, hook.url, event_types=["lead.promoted"])
    world.promote("rep")
    pump()
    [attempt] = Attempt.objects.filter(endpoint=endpoint)
    assert attempt.status_code is None and "timed out" in attempt.error.lower()
    assert attempt.latency_ms < 1400


def test_an_endpoint_failing_for_three_days_is_disabled_and_its_managers_told(
    world, receiver, django_capture_on_commit_callbacks
):
    hook = receiver(status=500)
    endpoint = make_endpoint(world, hook.url, event_types=["lead.promoted"])
    start = timezone.now()
    world.promote("rep")
    pump()
    for hours in (1, 30, 60, 73):
        world.promote("rep")
        with (
            time_machine.travel(start + dt.timedelta(hours=hours)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            pump()
    endpoint.refresh_from_db()
    assert not endpoint.active and "failed since" in endpoint.disabled_reason
    [note] = [m for m in mail.outbox if "Webhook endpoint disabled" in m.subject]
    assert world.users["manager"].email in note.to


def test_during_a_rotation_both_secrets_verify_and_after_24_hours_only_the_new_one(world, receiver):
    hook = receiver()
    endpoint = make_endpoint(world, hook.url, event_types=["lead.promoted"])
    old = endpoint.secret
    services.endpoint_rotate_secret(endpoint=endpoint, actor=world.users["manager"])
    new = endpoint.secret
    assert new != old and new.startswith("whsec_")

    world.promote("rep")
    pump()
    [request] = hook.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verified(old, request)  # a receiver not yet switched
    verified(new, request)  # a receiver already switched

    later = timezone.now() + dt.timedelta(hours=24, minutes=1)
    with time_machine.travel(later):
        world.promote("rep")
        pump()
        request = hook.received[-1]
        verified(new, request)
        with pytest.raises(WebhookVerificationError):
            verified(old, request)


def test_redeliver_and_replay_since_send_messages_again(world, receiver):
    hook = receiver()
    endpoint = make_endpoint(world, hook.url, event_types=["lead.promoted"])
    world.promote("rep")
    pump()
    cutoff = timezone.now()
    world.promote("rep")
    pump()
    assert len(hook.received) == 2

    first = Message.objects.filter(endpoint=endpoint).order_by("id").first()
    services.message_redeliver(message=first, actor=world.users["manager"])
    pump()
    assert len(hook.received) == 3
    assert hook.received[-1].headers["webhook-id"] == first.event_id

    assert (
        services.endpoint_replay_since(
            endpoint=endpoint, since=cutoff, actor=world.users["manager"]
        )
        == 1
    )
    pump()
    assert len(hook.received) == 4
    assert Attempt.objects.filter(endpoint=endpoint).count() == 4
