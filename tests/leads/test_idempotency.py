"""The Idempotency-Key header on the bulk endpoints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import time_machine

from leads import services
from leads.models import EngagementEvent, IdempotencyRecord, Lead
from tests.factories import UserFactory
from tests.leads.builders import lead_row

pytestmark = pytest.mark.usefixtures("default_rules")
URL = "/api/leads/bulk/"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def post(client, payload, key=None, url=URL):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(
        url, data=json.dumps(payload), content_type="application/json", headers=headers
    )


def claim_like_the_view(user, payload, key, now=None):
    return services.idempotency_claim(
        user=user,
        scope="leads.bulk",
        key=key,
        request_hash=hashlib.sha256(json.dumps(payload).encode()).hexdigest(),
        now=now,
    )


@pytest.fixture
def api(client_for, marketer):
    return client_for(marketer)


def test_the_same_key_and_body_return_the_first_answer_and_write_nothing_again(api):
    payload = {
        "leads": [
            lead_row(1, events=[{"kind": "page_view", "occurred_at": "2026-01-01T00:00:00Z"}])
        ]
    }
    first = post(api, payload, key="batch-1")

    again = post(api, payload, key="batch-1")

    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert again.json()["results"][0]["status"] == "created"  # the first answer, replayed
    assert again["Idempotent-Replayed"] == "true"
    assert (Lead.objects.count(), EngagementEvent.objects.count()) == (1, 1)


def test_the_same_body_means_the_same_bytes(api):
    post(api, {"leads": [{"email": "a@b.example", "company": "B"}]}, key="k")
    reordered = post(api, {"leads": [{"company": "B", "email": "a@b.example"}]}, key="k")
    assert reordered.status_code == 422


def test_the_same_key_with_another_body_is_a_422_and_writes_nothing(api):
    post(api, {"leads": [lead_row(1)]}, key="batch-1")

    response = post(api, {"leads": [lead_row(2)]}, key="batch-1")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert response.json()["field"] == "Idempotency-Key"
    assert Lead.objects.count() == 1


def test_a_duplicate_arriving_while_the_first_is_in_flight_gets_a_409(api, marketer):
    payload = {"leads": [lead_row(1)]}
    # The first request has claimed the key (committed at once) and is still working.
    claim_like_the_view(marketer, payload, "batch-1")

    response = post(api, payload, key="batch-1")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_flight"
    assert Lead.objects.count() == 0


def test_a_claim_whose_request_died_is_free_again_after_ten_minutes(api, marketer):
    payload = {"leads": [lead_row(1)]}
    with time_machine.travel(T0, tick=False):
        claim_like_the_view(marketer, payload, "batch-1")
    with time_machine.travel(T0 + dt.timedelta(minutes=11), tick=False):
        response = post(api, payload, key="batch-1")
    assert response.status_code == 200
    assert Lead.objects.count() == 1


def test_a_key_expires_after_24_hours(api):
    with time_machine.travel(T0, tick=False):
        post(api, {"leads": [lead_row(1)]}, key="batch-1")
    with time_machine.travel(T0 + dt.timedelta(hours=23, minutes=59), tick=False):
        assert post(api, {"leads": [lead_row(2)]}, key="batch-1").status_code == 422

    with time_machine.travel(T0 + dt.timedelta(hours=24, seconds=1), tick=False):
        response = post(api, {"leads": [lead_row(2)]}, key="batch-1")

    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "created"
    assert "Idempotent-Replayed" not in response
    assert Lead.objects.count() == 2


def test_keys_belong_to_their_user(api, client_for):
    other = UserFactory(username="other.marketer", role="Marketing")
    post(api, {"leads": [lead_row(1)]}, key="shared")

    response = post(client_for(other), {"leads": [lead_row(2)]}, key="shared")

    assert response.status_code == 200
    assert Lead.objects.count() == 2


def test_a_whole_request_error_does_not_use_up_the_key(api):
    too_many = {"leads": [lead_row(n) for n in range(1001)]}
    assert post(api, too_many, key="batch-1").status_code == 400

    response = post(api, {"leads": [lead_row(1)]}, key="batch-1")

    assert response.status_code == 200
    assert Lead.objects.count() == 1


def test_a_key_longer_than_255_characters_is_refused(api):
    response = post(api, {"leads": [lead_row(1)]}, key="k" * 256)
    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
    assert Lead.objects.count() == 0


def test_expired_keys_are_purged(marketer):
    with time_machine.travel(T0, tick=False):
        services.idempotency_claim(user=marketer, scope="s", key="old", request_hash="h")
    services.idempotency_claim(user=marketer, scope="s", key="new", request_hash="h")

    purged = services.idempotency_purge(now=T0 + dt.timedelta(hours=25))

    assert purged == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_the_events_endpoint_honours_the_key_too(api):
    lead = Lead.objects.get(pk=post(api, {"leads": [lead_row(1)]}).json()["results"][0]["id"])
    payload = {
        "events": [{"lead_id": lead.pk, "kind": "page_view", "occurred_at": "2026-01-01T00:00:00Z"}]
    }

    post(api, payload, key="ev-1", url="/api/events/bulk/")
    replay = post(api, payload, key="ev-1", url="/api/events/bulk/")

    assert replay["Idempotent-Replayed"] == "true"
    assert EngagementEvent.objects.count() == 1
