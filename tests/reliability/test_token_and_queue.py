"""The per-request hot paths: token auth remembered per process, and what accept, return and a
rep's queue read cost in queries.

- A token's user (and the user's roles) is read once per process for TOKEN_CACHE_SECONDS; a
  token deleted or rotated, a user deactivated or moved to another role, is seen at once in
  this process, and by every process once the entry expires.
- Accept is at most 5 queries over the whole API request on PostgreSQL, token auth included; a
  return with its reason, notification and feedback row at most 9; the queue read counts
  nothing and knows of a next page from one row more.

Savepoints are the test's own transaction (in production the request's transaction is a
BEGIN and COMMIT, not queries), so they are not counted.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from feedback.models import RejectionReason
from handoff.models import Handoff, HandoffEvent, Notification
from leads.models import LeadStageChange
from tests.handoff.world import make_world

# On PostgreSQL (production) the handoff is claimed and its event written in one statement, and
# the lead is locked, moved and its stage-history row written in another; SQLite has no
# data-modifying CTE, so it takes the long way there (claim, then event; read, update, insert
# for the lead; the return also reads its reason's rule and the owner apart).
# Each also marks its promotion day dirty for the revenue rollups, which beat recounts off the
# request path: a database trigger on the event's insert does it (pipeline.rollup,
# migration pipeline.0008), so it costs the request no query.
ON_POSTGRES = connection.vendor == "postgresql"
ACCEPT_QUERIES = 5 if ON_POSTGRES else 8
RETURN_QUERIES = 9 if ON_POSTGRES else 13
QUEUE = "/api/handoffs/?status=pending&ordering=due_at"


@pytest.fixture
def world(db, marketer, rep, other_rep, manager):
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def token_client(user) -> tuple[APIClient, str]:
    key = Token.objects.create(user=user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, key


def counted(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    sql = [q["sql"] for q in ctx.captured_queries]
    return response, [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


# --- the token ---------------------------------------------------------------------------------


def test_a_token_is_read_once_then_remembered(world):
    client, _ = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200
    response, queries = counted(lambda: client.get(QUEUE))
    assert response.status_code == 200
    assert not [q for q in queries if "authtoken_token" in q or "auth_group" in q]


def test_a_deleted_token_is_refused_at_once(world):
    client, key = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200
    Token.objects.get(key=key).delete()
    assert client.get(QUEUE).status_code == 401


def test_a_rotated_token_refuses_the_old_key_and_takes_the_new(world):
    client, key = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200
    Token.objects.filter(key=key).first().delete()
    new = Token.objects.create(user=world.rep).key
    assert client.get(QUEUE).status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert client.get(QUEUE).status_code == 200


def test_a_deactivated_user_is_refused_at_once(world):
    client, _ = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200
    world.rep.is_active = False
    world.rep.save()
    assert client.get(QUEUE).status_code == 401


def test_a_change_of_role_is_seen_at_once(world):
    client, _ = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200
    world.rep.groups.clear()
    assert client.get(QUEUE).json()["results"] == []  # no role: sees no handoff


def test_a_change_no_signal_announces_is_seen_once_the_entry_expires(world, settings):
    settings.TOKEN_CACHE_SECONDS = settings.ROLE_CACHE_SECONDS = 0.2
    client, _ = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200
    type(world.rep).objects.filter(pk=world.rep.pk).update(is_active=False)  # another process
    time.sleep(0.3)
    assert client.get(QUEUE).status_code == 401


def test_each_request_gets_its_own_copy_of_the_remembered_user(world):
    from core.api.token_auth import CachedTokenAuthentication

    key = Token.objects.create(user=world.rep).key
    first, _ = CachedTokenAuthentication().authenticate_credentials(key)
    first.first_name = "Changed by a request"
    second, _ = CachedTokenAuthentication().authenticate_credentials(key)
    assert second.first_name != "Changed by a request" and second is not first


def test_a_reason_deactivated_in_the_admin_is_refused_at_once(world):
    client, _ = token_client(world.rep)
    handoffs = [world.promote() for _ in range(4)]
    mine = [h for h in handoffs if h.assigned_to_id == world.rep.pk]
    body = {"reason": "not-ready", "note": "Later."}
    assert client.post(f"/api/handoffs/{mine[0].pk}/return/", body).status_code == 200
    reason = RejectionReason.objects.get(code="not-ready")
    reason.active = False
    reason.save()
    response = client.post(f"/api/handoffs/{mine[1].pk}/return/", body)
    assert response.status_code == 400 and response.json()["code"] == "invalid_reason"


# --- the transitions -------------------------------------------------------------------------


def test_an_accept_has_a_fixed_query_budget_with_token_auth(world):
    handoffs = [world.promote() for _ in range(4)]
    mine = [h for h in handoffs if h.assigned_to_id == world.rep.pk]
    client, _ = token_client(world.rep)
    assert client.get(QUEUE).status_code == 200  # a running process: token and roles known

    response, queries = counted(lambda: client.post(f"/api/handoffs/{mine[0].pk}/accept/"))

    assert response.status_code == 200, response.json()
    assert len(queries) <= ACCEPT_QUERIES, "\n".join(queries)
    assert response.json()["status"] == "accepted" and response.json()["lead"]["stage"] == "sal"
    assert HandoffEvent.objects.filter(handoff=mine[0], to_status="accepted").count() == 1
    assert LeadStageChange.objects.filter(lead_id=mine[0].lead_id, to_stage="sal").count() == 1


def test_a_return_has_a_fixed_query_budget_with_its_notification(world):
    handoffs = [world.promote() for _ in range(6)]
    mine = [h for h in handoffs if h.assigned_to_id == world.rep.pk]
    client, _ = token_client(world.rep)
    body = {"reason": "not-ready", "note": "Next quarter."}
    assert client.post(f"/api/handoffs/{mine[0].pk}/return/", body).status_code == 200  # warm

    response, queries = counted(lambda: client.post(f"/api/handoffs/{mine[1].pk}/return/", body))

    assert response.status_code == 200, response.json()
    assert len(queries) <= RETURN_QUERIES, "\n".join(queries)
    answer = response.json()
    assert answer["feedback"]["lead"] == {**answer["feedback"]["lead"], "return_count": 1}
    assert Notification.objects.filter(handoff=mine[1], kind="returned").exists()
    assert LeadStageChange.objects.filter(lead_id=mine[1].lead_id, to_stage="recycled").count() == 1


# --- the queue -------------------------------------------------------------------------------


def test_the_queue_read_counts_nothing_and_peeks_for_a_next_page(world):
    for _ in range(6):
        world.promote()
    client, _ = token_client(world.rep)
    client.get(QUEUE)
    mine = Handoff.objects.filter(assigned_to=world.rep, status="pending").count()
    assert mine >= 3

    response, queries = counted(lambda: client.get(f"{QUEUE}&page_size=2"))

    page = response.json()
    assert len(queries) == 1 and "COUNT(" not in queries[0], queries
    assert page["count"] is None and page["previous"] is None and len(page["results"]) == 2
    assert "page=2" in page["next"]
    last = client.get(f"{QUEUE}&page_size={mine}").json()
    assert last["next"] is None and len(last["results"]) == mine


def test_the_count_is_given_when_asked_for(world):
    for _ in range(4):
        world.promote()
    client, _ = token_client(world.manager)
    page = client.get("/api/handoffs/?count=true&page_size=1").json()
    assert page["count"] == 4 and page["count_is_estimate"] is False


def test_a_page_past_the_end_is_empty_and_a_bad_page_is_a_404(world):
    world.promote()
    client, _ = token_client(world.manager)
    assert client.get("/api/handoffs/?page=9").json()["results"] == []
    assert client.get("/api/handoffs/?page=x").status_code == 404
