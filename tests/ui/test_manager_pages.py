"""The sales manager's pages: the queue of handoffs nobody could take, reassigning, and what the
manager's navigation leads to."""

from __future__ import annotations

import pytest

from handoff.models import Handoff, TeamMembership
from handoff.states import Status
from tests.ui.world import World, logged_in, make_world, messages_of, text


@pytest.fixture
def world(db) -> World:
    return make_world()


def unassigned(world: World) -> Handoff:
    TeamMembership.objects.filter(team=world.team).update(is_away=True)
    handoff = world.promote()
    TeamMembership.objects.filter(team=world.team).update(is_away=False)
    assert handoff.assigned_to is None
    return handoff


def test_the_manager_queue_lists_unassigned_handoffs_with_why(world):
    handoff = unassigned(world)
    response = logged_in(world.manager).get("/manager/queue/")
    assert [row.handoff.pk for row in response.context["rows"]] == [handoff.pk]
    page = text(response)
    assert "rob.rep: marked away" in page and "olga.rep: marked away" in page
    assert "59m left" in page or "1h 00m left" in page


def test_assigning_from_the_queue_gives_it_to_the_chosen_rep(world):
    handoff = unassigned(world)
    client = logged_in(world.manager)
    row = client.get("/manager/queue/").context["rows"][0]
    response = client.post(
        f"/handoffs/{handoff.pk}/reassign/",
        {"to_rep": world.other_rep.pk, "seen": row.seen, "next": "/manager/queue/"},
        follow=True,
    )
    new = Handoff.objects.get(previous=handoff)
    assert new.assigned_to == world.other_rep and new.attempt == 2
    assert any(f"Reassigned {new.lead} to Olga Rep (attempt 2)" in m for m in messages_of(response))
    assert "Nothing unassigned" in text(response)


def test_reassigning_to_someone_who_is_not_a_rep_names_the_field(world):
    handoff = world.promote()
    response = logged_in(world.manager).post(
        f"/handoffs/{handoff.pk}/reassign/", {"to_rep": world.marketer.pk}
    )
    assert response.status_code == 400
    assert response.context["reassign_form"].errors["to_rep"]
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING


def test_a_manager_can_reassign_from_the_handoff_page_to_the_next_rep(world):
    TeamMembership.objects.filter(rep=world.other_rep).update(is_away=False)
    handoff = world.promote()
    client = logged_in(world.manager)
    page = text(client.get(f"/handoffs/{handoff.pk}/"))
    assert "Reassign…" in page
    client.post(
        f"/handoffs/{handoff.pk}/reassign/",
        {"to_rep": "", "reason": "Rob is at a conference", "seen": handoff_seen(client, handoff)},
    )
    new = Handoff.objects.get(previous=handoff)
    assert new.assigned_to == world.other_rep


def handoff_seen(client, handoff: Handoff) -> str:
    return client.get(f"/handoffs/{handoff.pk}/").context["seen"]


def test_reps_and_marketers_cannot_open_the_manager_queue(world):
    assert logged_in(world.rep).get("/manager/queue/").status_code == 403
    assert logged_in(world.marketer).get("/manager/queue/").status_code == 403


def test_a_rep_cannot_reassign(world):
    handoff = world.promote()
    response = logged_in(world.rep).post(
        f"/handoffs/{handoff.pk}/reassign/", {"to_rep": world.other_rep.pk}, follow=True
    )
    assert "Only a sales manager can reassign a handoff." in text(response)
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING


def test_a_manager_taking_a_handoff_from_the_queue_becomes_its_owner(world):
    handoff = unassigned(world)
    client = logged_in(world.manager)
    queue = client.get("/manager/queue/")
    assert "Take it" in text(queue)
    client.post(f"/handoffs/{handoff.pk}/accept/", {"seen": queue.context["rows"][0].seen})
    handoff.refresh_from_db()
    assert handoff.status == Status.ACCEPTED and handoff.assigned_to == world.manager
