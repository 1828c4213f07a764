"""A move the handoff's current state refuses is a 409 conflict naming that state; malformed
input stays a 400 naming the field. Every action endpoint, over the API."""

from __future__ import annotations

from typing import Any

import pytest

from feedback.models import ReturnFeedback
from handoff import services
from handoff.models import Handoff, HandoffEvent
from handoff.states import Status
from tests.handoff.world import World, make_world

BANT = {"budget": "50k", "authority": "CFO", "need": "routing", "timeline": "this quarter"}
NOTE = "Asked for a demo after the pricing webinar."


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def promoted(w: World) -> Handoff:
    return services.handoff_promote(lead=w.lead(), actor=w.marketer, note=NOTE)


def accepted(w: World) -> Handoff:
    return services.handoff_accept(handoff=promoted(w), actor=w.rep)


def returned(w: World, client_for: Any) -> Handoff:
    h = promoted(w)
    response = client_for(w.rep).post(
        f"/api/handoffs/{h.pk}/return/", {"reason": "not-ready"}, format="json"
    )
    assert response.status_code == 200, response.content
    h.refresh_from_db()
    return h


# (name, who acts, how the handoff is made, the call, the status it is in)
CASES = [
    ("accept an accepted handoff", "rep", "accepted", ("accept", {}), Status.ACCEPTED),
    (
        "ask about an accepted handoff",
        "rep",
        "accepted",
        ("request-info", {"question": "Which region?"}),
        Status.ACCEPTED,
    ),
    ("qualify a pending handoff", "rep", "pending", ("qualify", {"bant": BANT}), Status.PENDING),
    (
        "answer a handoff nobody asked about",
        "marketer",
        "pending",
        ("provide-info", {"answer": "EMEA"}),
        Status.PENDING,
    ),
    (
        "log a first touch on a pending handoff",
        "rep",
        "pending",
        ("first-touch", {"channel": "call"}),
        Status.PENDING,
    ),
    ("reassign an accepted handoff", "manager", "accepted", ("reassign", {}), Status.ACCEPTED),
    (
        "return a returned handoff",
        "manager",
        "returned",
        ("return", {"reason": "not-ready"}),
        Status.RETURNED,
    ),
]


@pytest.mark.parametrize("who,made,call,status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_move_the_current_state_refuses_is_a_409_naming_the_status(
    world, client_for, who, made, call, status
):
    h = (
        returned(world, client_for)
        if made == "returned"
        else {"pending": promoted, "accepted": accepted}[made](world)
    )
    events = HandoffEvent.objects.filter(handoff=h).count()
    action, body = call
    user = {"rep": world.rep, "marketer": world.marketer, "manager": world.manager}[who]
    response = client_for(user).post(f"/api/handoffs/{h.pk}/{action}/", body, format="json")
    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["code"] == "invalid_transition"
    assert answer["status"] == status
    assert Status(status).label.lower() in answer["detail"]
    assert HandoffEvent.objects.filter(handoff=h).count() == events


def test_a_second_first_touch_is_a_409(world, client_for):
    h = accepted(world)
    rep = client_for(world.rep)
    assert rep.post(f"/api/handoffs/{h.pk}/first-touch/", {"channel": "call"}).status_code == 200
    again = rep.post(f"/api/handoffs/{h.pk}/first-touch/", {"channel": "email"})
    assert (again.status_code, again.json()["code"]) == (409, "first_touch_logged")


def test_promoting_a_lead_already_with_sales_is_a_409(world, client_for):
    h = accepted(world)
    services.handoff_qualify(handoff=h, actor=world.rep, bant=BANT)
    response = client_for(world.marketer).post(
        f"/api/leads/{h.lead_id}/promote/", {"note": NOTE}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "lead_with_sales")


def test_acknowledging_or_disputing_twice_is_a_409(world, client_for):
    h = returned(world, client_for)
    feedback = ReturnFeedback.objects.get(handoff=h)
    marketing = client_for(world.marketer)
    url = f"/api/feedback/{feedback.pk}/acknowledge/"
    first = marketing.post(url, {"reply": "Fair", "follow_up": "dispute"}, format="json")
    assert first.status_code == 200, first.content
    again = marketing.post(url, {"reply": "Really", "follow_up": "dispute"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_acknowledged")
    manager = client_for(world.manager)
    resolve = f"/api/feedback/{feedback.pk}/resolve-dispute/"
    body = {"upheld": True, "resolution": "The lead has no budget."}
    assert manager.post(resolve, body, format="json").status_code == 200
    twice = manager.post(resolve, body, format="json")
    assert (twice.status_code, twice.json()["code"]) == (409, "already_resolved")


def test_malformed_input_stays_a_400_naming_the_field(world, client_for):
    h = promoted(world)
    rep = client_for(world.rep)
    response = rep.post(f"/api/handoffs/{h.pk}/first-touch/", {"channel": "fax"})
    assert response.status_code == 400
    assert "channel" in response.json()["errors"]
    h.refresh_from_db()
    assert h.status == Status.PENDING
