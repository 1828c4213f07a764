"""Idempotent ingestion under concurrency: the same Idempotency-Key sent by many clients at once.

Each request runs in its own thread with its own database connection (PostgreSQL: real row
locks, real commits), released together by a barrier, through the whole API stack (token
authentication, the bulk view, the claim, the work, the stored answer).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import MARKETING
from leads import services
from leads.models import IdempotencyRecord, Lead
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/leads/bulk/"
CLIENTS = 50
ROWS = 20


@dataclass
class Answer:
    status: int
    body: bytes
    replayed: bool


def batch(tag: str, rows: int = ROWS) -> bytes:
    return json.dumps(
        {
            "leads": [
                {
                    "email": f"{tag}.{n}@concurrent.example",
                    "company": f"Concurrent {tag}",
                    "country": "US",
                    "events": [{"kind": "demo_request", "occurred_at": "2026-01-05T10:00:00Z"}],
                }
                for n in range(rows)
            ]
        }
    ).encode()


@pytest.fixture
def marketer_token(transactional_db) -> str:
    services.scoring_rules_install_defaults()
    user = UserFactory(username="ida.marketer", role=MARKETING)
    return Token.objects.create(user=user).key


def post(token: str, body: bytes, key: str) -> Answer:
    client = APIClient()
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Token {token}", "Idempotency-Key": key},
    )
    return Answer(
        response.status_code, response.content, response.has_header("Idempotent-Replayed")
    )


def post_at_once(token: str, bodies: list[bytes], key: str) -> list[Answer]:
    """One thread per body, each with its own database connection, released together."""
    answers: list[Any] = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def client(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[i] = post(token, bodies[i], key)
        except BaseException as exc:  # the test reports it rather than hanging
            answers[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(a, Answer) for a in answers), [
        a for a in answers if not isinstance(a, Answer)
    ]
    return answers


def leads_of(tag: str) -> int:
    return Lead.objects.filter(company=f"Concurrent {tag}").count()


def test_fifty_concurrent_posts_with_one_key_create_the_leads_once_and_answer_alike(
    marketer_token, figure
):
    body = batch("same")

    answers = post_at_once(marketer_token, [body] * CLIENTS, key="nightly-import-1")

    statuses = sorted({a.status for a in answers})
    assert set(statuses) <= {200, 409}, [
        a.body[:300] for a in answers if a.status not in (200, 409)
    ]
    done = [a for a in answers if a.status == 200]
    in_flight = [a for a in answers if a.status == 409]
    assert done, "one request must have done the work"
    first = done[0].body
    assert all(a.body == first for a in done)
    assert [a.replayed for a in done].count(False) <= 1  # only the one that did the work
    assert all(json.loads(a.body)["code"] == "idempotency_in_flight" for a in in_flight)
    assert json.loads(first)["created"] == ROWS
    assert leads_of("same") == ROWS
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.DONE

    # Each client told "in flight" retries once the first has finished: the same first answer.
    retries = [post(marketer_token, body, "nightly-import-1") for _ in in_flight]
    assert all(r.status == 200 and r.body == first and r.replayed for r in retries)
    assert leads_of("same") == ROWS
    figure(
        "2 idempotency",
        f"{CLIENTS} concurrent posts, one key",
        "leads created once, same answer",
        f"{ROWS} leads once; {len(done)} x 200 identical, {len(in_flight)} x 409 "
        f"(then 200 identical)",
    )


def test_the_same_key_sent_at_once_with_two_bodies_does_one_body_and_refuses_the_other(
    marketer_token, figure
):
    bodies = [batch("alpha")] * 40 + [batch("beta")] * 10

    answers = post_at_once(marketer_token, bodies, key="shared-key")

    by_body = {
        b: [a for a, sent in zip(answers, bodies, strict=True) if sent == b] for b in set(bodies)
    }
    winner = json.loads(IdempotencyRecord.objects.get().response_body)["results"][0]["email"]
    won, lost = ("alpha", "beta") if winner.startswith("alpha") else ("beta", "alpha")
    winning_body, losing_body = batch(won), batch(lost)
    assert {a.status for a in by_body[winning_body]} <= {200, 409}
    assert {a.status for a in by_body[losing_body]} == {422}
    assert all(json.loads(a.body)["code"] == "idempotency_key_reused" for a in by_body[losing_body])
    assert (leads_of(won), leads_of(lost)) == (ROWS, 0)
    refused = post(marketer_token, losing_body, "shared-key")
    assert refused.status == 422 and leads_of(lost) == 0
    refused_at_once = sum(a.status == 422 for a in by_body[losing_body])
    figure("2 idempotency", "same key, another body", "422, nothing written",
           f"{refused_at_once}/{len(by_body[losing_body])} x 422 (the {lost} body lost), 0 rows")  # fmt: skip


def test_a_key_is_the_clients_own_another_client_with_the_same_key_is_not_answered_from_it(
    marketer_token,
):
    other = Token.objects.create(user=UserFactory(username="ola.marketer", role=MARKETING)).key
    body = batch("mine", rows=2)
    mine = post(marketer_token, body, "k-1")

    theirs = post(other, body, "k-1")

    assert mine.status == theirs.status == 200
    assert not theirs.replayed
    assert [r["status"] for r in json.loads(theirs.body)["results"]] == ["updated", "updated"]


def test_a_key_expires_after_24_hours_and_may_then_carry_another_body(marketer_token, figure):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = post(marketer_token, batch("day-one", rows=2), "daily")
    assert first.status == 200 and not first.replayed

    with time_machine.travel(start + dt.timedelta(hours=23, minutes=59), tick=False):
        replay = post(marketer_token, batch("day-one", rows=2), "daily")
        refused = post(marketer_token, batch("day-two", rows=2), "daily")
    assert replay.status == 200 and replay.replayed and replay.body == first.body
    assert refused.status == 422

    with time_machine.travel(start + dt.timedelta(hours=24, seconds=1), tick=False):
        fresh = post(marketer_token, batch("day-two", rows=2), "daily")
        again = post(marketer_token, batch("day-one", rows=2), "daily")
        assert services.idempotency_purge() == 0  # the expired record was replaced, not kept

    assert fresh.status == 200 and not fresh.replayed
    assert leads_of("day-two") == 2
    assert again.status == 422  # the key now belongs to the day-two body, for 24 hours
    record = IdempotencyRecord.objects.get()
    assert record.expires_at == start + dt.timedelta(hours=48, seconds=1)
    figure(
        "2 idempotency", "key expiry", "24 h", "replayed at 23:59, new body accepted at 24:00:01"
    )


def test_concurrent_posts_of_the_same_leads_under_different_keys_never_fail_and_free_lost_keys(
    marketer_token,
):
    """Ten clients send the same new leads, each with its own key: the inserts race. A loser
    gets a clean 409 and its key is released, so its retry with the same key does the work."""
    body = batch("race")
    keys = [f"client-{n}" for n in range(10)]
    answers: list[Any] = [None] * len(keys)
    barrier = threading.Barrier(len(keys))

    def client(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[i] = post(marketer_token, body, keys[i])
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert {a.status for a in answers} <= {200, 409}, [a.body[:300] for a in answers]
    assert leads_of("race") == ROWS
    for key, answer in zip(keys, answers, strict=True):
        if answer.status == 409:
            retry = post(marketer_token, body, key)
            assert retry.status == 200 and not retry.replayed
            assert {r["status"] for r in json.loads(retry.body)["results"]} == {"updated"}
    assert leads_of("race") == ROWS
    assert set(IdempotencyRecord.objects.values_list("state", flat=True)) == {"done"}
