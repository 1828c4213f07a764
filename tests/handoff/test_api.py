"""The handoff API: actions, errors with stable codes, who may do what, and query counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from core.roles import MARKETING
from handoff import services
from handoff.models import Handoff
from handoff.states import Status
from leads.models import Stage
from tests.factories import HandoffFactory, LeadFactory, UserFactory
from tests.handoff.world import World, make_world

BANT = {"budget": "50k", "authority": "CFO", "need": "routing", "timeline": "this quarter"}


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def promote_now(w: World, **kw: Any) -> Handoff:
    kw.setdefault("note", "Asked for a demo after the pricing webinar.")
    return services.handoff_promote(lead=w.lead(), actor=w.marketer, **kw)


# --- the flow ---------------------------------------------------------------------------------


def test_marketing_promotes_a_lead_and_the_rep_accepts_qualifies_it(world, client_for):
    lead = world.lead()
    response = client_for(world.marketer).post(
        f"/api/leads/{lead.pk}/promote/",
        {"note": "Asked for pricing twice this week"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["assigned_to"]["username"] == "rob.rep"
    assert body["context_note"] == "Asked for pricing twice this week"
    assert body["clock"]["state"] == "running"
    assert body["events"][0]["kind"] == "created"
    assert body["routing"]["team"]["name"] == "AMER"
    pk = body["id"]

    rep = client_for(world.rep)
    accepted = rep.post(f"/api/handoffs/{pk}/accept/")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["first_touch_clock"]["state"] == "running"

    touched = rep.post(f"/api/handoffs/{pk}/first-touch/", {"channel": "call"}, format="json")
    assert touched.status_code == 200
    assert touched.json()["first_touch_channel"] == "call"

    qualified = rep.post(f"/api/handoffs/{pk}/qualify/", {"bant": BANT}, format="json")
    assert qualified.status_code == 200, qualified.json()
    assert qualified.json()["bant"] == BANT
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert [e["kind"] for e in qualified.json()["events"]] == [
        "created", "transition", "first_touch", "transition",
    ]  # fmt: skip


def test_a_rep_asks_marketing_and_the_clock_pauses_until_marketing_answers(world, client_for):
    h = promote_now(world)
    asked = client_for(world.rep).post(
        f"/api/handoffs/{h.pk}/request-info/", {"question": "Which product?"}, format="json"
    )
    assert asked.status_code == 200
    assert asked.json()["status"] == "waiting"
    assert asked.json()["clock"]["state"] == "paused"
    answered = client_for(world.marketer).post(
        f"/api/handoffs/{h.pk}/provide-info/", {"answer": "Routing"}, format="json"
    )
    assert answered.status_code == 200
    assert answered.json()["status"] == "pending"
    assert answered.json()["pause_count"] == 1
    assert "paused_seconds" in answered.json()["events"][-1]["payload"]


def test_a_manager_reassigns_and_gets_the_new_attempt(world, client_for):
    h = promote_now(world)
    response = client_for(world.manager).post(
        f"/api/handoffs/{h.pk}/reassign/", {"to_rep": world.other_rep.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"] != h.pk
    assert (body["attempt"], body["previous"]) == (2, h.pk)
    assert body["assigned_to"]["username"] == "olga.rep"


def test_the_preview_shows_team_rep_policy_and_deadline(world, client_for):
    lead = world.lead()
    response = client_for(world.marketer).get(f"/api/leads/{lead.pk}/promotion-preview/")
    assert response.status_code == 200
    body = response.json()
    assert body["eligible"] is True
    assert body["team"]["name"] == "AMER"
    assert body["rep"]["username"] == "rob.rep"
    assert body["policy"]["accept_within_minutes"] == 240
    assert not Handoff.objects.exists()
    bad = client_for(world.marketer).get(f"/api/leads/{lead.pk}/promotion-preview/?team=abc")
    assert (bad.status_code, bad.json()["field"]) == (400, "team")


# --- errors -----------------------------------------------------------------------------------


def test_an_illegal_move_is_a_409_with_code_invalid_transition(world, client_for):
    h = promote_now(world)
    rep = client_for(world.rep)
    assert rep.post(f"/api/handoffs/{h.pk}/accept/").status_code == 200
    again = rep.post(f"/api/handoffs/{h.pk}/accept/")
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["status"]) == ("invalid_transition", "accepted")
    assert "is accepted now and cannot become accepted" in again.json()["detail"]


def test_promoting_a_lead_with_an_open_handoff_is_a_409(world, client_for):
    h = promote_now(world)
    response = client_for(world.marketer).post(
        f"/api/leads/{h.lead_id}/promote/", {}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "open_handoff_exists"


def test_a_lead_in_cooldown_is_refused_with_its_rule_code(world, client_for):
    lead = world.lead(stage=Stage.RECYCLED, recycle_until=timezone.now() + dt.timedelta(days=5))
    response = client_for(world.marketer).post(f"/api/leads/{lead.pk}/promote/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "lead_in_cooldown"
    assert not Handoff.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("request-info", {}, "question"),
        ("request-info", {"question": ""}, "question"),
        ("first-touch", {"channel": "fax"}, "channel"),
        ("reassign", {"to_rep": 999999}, "to_rep"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    world, client_for, path, body, field
):
    h = promote_now(world)
    response = client_for(world.manager).post(f"/api/handoffs/{h.pk}/{path}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    h.refresh_from_db()
    assert h.status == Status.PENDING
    assert h.events.count() == 1


def test_bad_bant_answers_name_the_missing_field(world, client_for):
    h = promote_now(world)
    services.handoff_accept(handoff=h, actor=world.rep)
    response = client_for(world.rep).post(
        f"/api/handoffs/{h.pk}/qualify/", {"bant": {**BANT, "need": ""}}, format="json"
    )
    assert response.status_code == 400
    assert "need" in response.json()["errors"]["bant"]


def test_reassigning_to_someone_who_is_not_a_rep_names_the_field(world, client_for):
    h = promote_now(world)
    response = client_for(world.manager).post(
        f"/api/handoffs/{h.pk}/reassign/", {"to_rep": world.marketer.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "to_rep"


def test_the_api_does_not_serve_the_return_route_itself(world):
    from django.urls import resolve

    match = resolve("/api/handoffs/1/return/")
    assert not match.func.__module__.startswith("handoff.")


# --- who may do what --------------------------------------------------------------------------


ROLES = ("own_rep", "other_rep", "marketer", "other_marketer", "manager", "anonymous")

# action: (the handoff's status beforehand, method, path suffix, body, expected per role)
MATRIX: dict[str, tuple[str, str, str, dict, dict[str, int]]] = {
    "detail": ("pending", "get", "", {}, {
        "own_rep": 200, "other_rep": 404, "marketer": 200, "other_marketer": 200, "manager": 200,
    }),
    "accept": ("pending", "post", "accept/", {}, {
        "own_rep": 200, "other_rep": 404, "marketer": 403, "other_marketer": 403, "manager": 200,
    }),
    "request-info": ("pending", "post", "request-info/", {"question": "?"}, {
        "own_rep": 200, "other_rep": 404, "marketer": 403, "other_marketer": 403, "manager": 200,
    }),
    "provide-info": ("waiting", "post", "provide-info/", {"answer": "!"}, {
        "own_rep": 403, "other_rep": 404, "marketer": 200, "other_marketer": 403, "manager": 200,
    }),
    "qualify": ("accepted", "post", "qualify/", {"bant": BANT}, {
        "own_rep": 200, "other_rep": 404, "marketer": 403, "other_marketer": 403, "manager": 200,
    }),
    "first-touch": ("accepted", "post", "first-touch/", {"channel": "email"}, {
        "own_rep": 200, "other_rep": 404, "marketer": 403, "other_marketer": 403, "manager": 200,
    }),
    "reassign": ("pending", "post", "reassign/", {}, {
        "own_rep": 403, "other_rep": 404, "marketer": 403, "other_marketer": 403, "manager": 201,
    }),
}  # fmt: skip


def actor_for(w: World, role: str) -> Any:
    return {
        "own_rep": w.rep,
        "other_rep": w.other_rep,
        "marketer": w.marketer,
        "other_marketer": UserFactory(username="otto.marketer", role=MARKETING),
        "manager": w.manager,
        "anonymous": None,
    }[role]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(MATRIX))
def test_authorization_matrix_for_handoffs(world, client_for, role, action):
    before, method, suffix, body, expected = MATRIX[action]
    h = promote_now(world)
    assert h.assigned_to == world.rep
    if before == "waiting":
        services.handoff_request_info(handoff=h, actor=world.rep, question="?")
    elif before == "accepted":
        services.handoff_accept(handoff=h, actor=world.rep)
    events = h.events.count()
    client = client_for(actor_for(world, role))
    response = getattr(client, method)(f"/api/handoffs/{h.pk}/{suffix}", body, format="json")
    if role == "anonymous":
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        assert response.json()["code"] == "not_authenticated"
        return
    assert response.status_code == expected[role], response.json()
    if response.status_code >= 400:
        assert response.json()["code"] in ("not_found", "permission_denied")
        assert h.events.count() == events  # refused: nothing written


@pytest.mark.parametrize(
    ("role", "promote", "preview"),
    [("own_rep", 404, 403), ("marketer", 201, 200), ("manager", 201, 200)],
)
def test_authorization_matrix_for_promotion(world, client_for, role, promote, preview):
    client = client_for(actor_for(world, role))
    lead = world.lead()
    assert client.get(f"/api/leads/{lead.pk}/promotion-preview/").status_code == preview
    body = {"note": "Asked for a demo after the pricing webinar."}
    assert client.post(f"/api/leads/{lead.pk}/promote/", body, format="json").status_code == promote


def test_a_rep_lists_only_their_own_handoffs(world, client_for):
    mine = promote_now(world)
    theirs = promote_now(world)
    assert (mine.assigned_to, theirs.assigned_to) == (world.rep, world.other_rep)
    ids = [row["id"] for row in client_for(world.rep).get("/api/handoffs/").json()["results"]]
    assert ids == [mine.pk]
    everything = client_for(world.marketer).get("/api/handoffs/?count=true").json()
    assert everything["count"] == 2


# --- filters ----------------------------------------------------------------------------------


def test_the_list_filters_by_status_breach_risk_rep_and_due_date(world, client_for):
    now = timezone.now()
    lead = LeadFactory
    overdue = HandoffFactory(lead=lead(stage="mql"), team=world.team, calendar=world.calendar,
                             assigned_to=world.rep, created_at=now - dt.timedelta(hours=5),
                             due_at=now - dt.timedelta(hours=1), at_risk_at=now - dt.timedelta(hours=2))  # fmt: skip
    risky = HandoffFactory(lead=lead(stage="mql"), team=world.team, calendar=world.calendar,
                           assigned_to=world.other_rep, created_at=now - dt.timedelta(hours=3),
                           due_at=now + dt.timedelta(hours=1), at_risk_at=now - dt.timedelta(minutes=5))  # fmt: skip
    calm = HandoffFactory(lead=lead(stage="mql"), team=world.team, calendar=world.calendar,
                          assigned_to=world.rep, created_at=now,
                          due_at=now + dt.timedelta(hours=4), at_risk_at=now + dt.timedelta(hours=3))  # fmt: skip
    done = HandoffFactory(lead=lead(stage="sal"), team=world.team, status=Status.ACCEPTED,
                          assigned_to=world.rep, created_at=now - dt.timedelta(days=1),
                          due_at=now - dt.timedelta(hours=20), breached_at=now - dt.timedelta(hours=20))  # fmt: skip
    client = client_for(world.manager)

    def ids(query: str) -> set[int]:
        response = client.get(f"/api/handoffs/?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("breached=true") == {overdue.pk, done.pk}
    assert ids("breached=false") == {risky.pk, calm.pk}
    assert ids("at_risk=true") == {risky.pk}
    assert ids("status=accepted") == {done.pk}
    assert ids("status=pending&status=accepted") == {overdue.pk, risky.pk, calm.pk, done.pk}
    assert ids(f"assigned_to={world.other_rep.pk}") == {risky.pk}
    assert ids(f"team={world.team.pk}&status=pending") == {overdue.pk, risky.pk, calm.pk}
    due_before = (now + dt.timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert ids(f"due_before={due_before}&status=pending") == {overdue.pk, risky.pk}
    created_after = (now - dt.timedelta(hours=4)).isoformat().replace("+00:00", "Z")
    assert ids(f"created_after={created_after}") == {risky.pk, calm.pk}
    ordered = client.get("/api/handoffs/?status=pending&ordering=due_at").json()["results"]
    assert [row["id"] for row in ordered] == [overdue.pk, risky.pk, calm.pk]
    assert (
        client_for(world.rep).get("/api/handoffs/?assigned_to=me&count=true").json()["count"] == 3
    )
    bad = client.get("/api/handoffs/?assigned_to=rob")
    assert bad.status_code == 400
    assert "assigned_to" in bad.json()["errors"]


def test_the_clock_says_how_late_a_handoff_is(world, client_for):
    now = timezone.now()
    h = HandoffFactory(team=world.team, calendar=world.calendar, assigned_to=world.rep,
                       created_at=now - dt.timedelta(days=3), due_at=now - dt.timedelta(days=2))  # fmt: skip
    clock = client_for(world.rep).get(f"/api/handoffs/{h.pk}/").json()["clock"]
    assert clock["late"] is True
    assert clock["wall_seconds_left"] == pytest.approx(-2 * 86400, abs=5)
    assert clock["business_minutes_left"] <= 0


# --- cost -------------------------------------------------------------------------------------


def make_many(w: World, count: int) -> None:
    now = timezone.now()
    reps = [w.rep, w.other_rep, None]
    for n in range(count):
        HandoffFactory(
            team=w.team,
            calendar=w.calendar,
            policy=w.policy,
            promoted_by=w.marketer,
            assigned_to=reps[n % 3],
            created_at=now - dt.timedelta(minutes=n),
            due_at=now + dt.timedelta(minutes=60 - n),
        )


@pytest.mark.parametrize("page_size", [10, 100])
def test_the_list_costs_the_same_queries_at_any_page_size(
    world, client_for, django_assert_max_num_queries, page_size
):
    make_many(world, 100)
    client = client_for(world.manager)
    client.get("/api/handoffs/?page_size=1")  # warms the calendar cache, like a running server
    with django_assert_max_num_queries(1):  # the rows (roles remembered, no COUNT)
        response = client.get(f"/api/handoffs/?page_size={page_size}")
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("events", [1, 30])
def test_the_detail_costs_the_same_queries_whatever_its_history(
    world, client_for, django_assert_max_num_queries, events
):
    from handoff.models import HandoffEvent

    h = promote_now(world)
    HandoffEvent.objects.bulk_create(
        HandoffEvent(handoff=h, kind="at_risk", at=h.created_at, actor=world.manager)
        for _ in range(events)
    )
    client = client_for(world.manager)
    with django_assert_max_num_queries(6):
        response = client.get(f"/api/handoffs/{h.pk}/")
    assert len(response.json()["events"]) == events + 1


# --- schema -----------------------------------------------------------------------------------


def test_the_schema_documents_bodies_and_error_answers(world, client_for):
    schema = client_for(world.manager).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    accept = paths["/api/handoffs/{id}/accept/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(accept["responses"])
    qualify = paths["/api/handoffs/{id}/qualify/"]["post"]
    assert "requestBody" in qualify
    reassign = paths["/api/handoffs/{id}/reassign/"]["post"]
    assert "201" in reassign["responses"]
    listing = paths["/api/handoffs/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"status", "breached", "at_risk", "assigned_to", "team", "policy", "due_before",
            "due_after", "created_after", "created_before", "ordering", "page_size"} <= names  # fmt: skip
    assert "/api/leads/{id}/promote/" in paths
    assert "/api/leads/{id}/promotion-preview/" in paths
