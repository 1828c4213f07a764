"""The managers' dispute inbox: marketing disputes a return with the Dispute button, a manager
upholds or overturns it with a note on a page linked from the navigation; both are recorded and
emailed."""

from __future__ import annotations

import pytest

from feedback.models import ReturnFeedback
from handoff.models import Notification
from leads.models import Stage
from tests.ui.world import World, logged_in, make_world, messages_of, text


@pytest.fixture
def world(db) -> World:
    return make_world()


def disputed(world: World, reply: str = "They booked a demo yesterday.") -> ReturnFeedback:
    returned = world.give_back(world.promote(), "not-ready")
    response = logged_in(world.marketer).post(
        f"/returned/{returned.pk}/acknowledge/", {"reply": reply, "follow_up": "dispute"}
    )
    assert response.status_code == 302
    returned.refresh_from_db()
    return returned


def test_the_returned_queue_offers_a_dispute_button(world):
    world.give_back(world.promote(), "not-ready")
    page = logged_in(world.marketer).get("/returned/").content.decode()
    assert '<button class="btn" type="submit" name="follow_up" value="dispute"' in page
    assert ">Dispute</button>" in page


def test_the_dispute_button_without_a_reply_is_a_field_error(world):
    returned = world.give_back(world.promote(), "not-ready")
    # The select sends "" and the button "dispute" after it, as a browser does.
    response = logged_in(world.marketer).post(
        f"/returned/{returned.pk}/acknowledge/", {"reply": "", "follow_up": ["", "dispute"]}
    )
    assert response.status_code == 400
    assert "Say why you dispute" in text(response)
    returned.refresh_from_db()
    assert returned.acknowledged_at is None


def test_a_manager_sees_open_disputes_linked_from_the_navigation(world):
    fb = disputed(world)
    client = logged_in(world.manager)
    home = client.get("/manager/queue/").content.decode()
    assert 'href="/disputes/"' in home
    page = text(client.get("/disputes/"))
    assert "They booked a demo yesterday." in page
    assert fb.reason.label in page
    assert "Uphold the return" in page and "Overturn the return" in page


def test_other_roles_get_the_forbidden_page(world):
    assert logged_in(world.marketer).get("/disputes/").status_code == 403
    assert logged_in(world.rep).get("/disputes/").status_code == 403
    assert 'href="/disputes/"' not in logged_in(world.marketer).get("/leads/").content.decode()


def test_upholding_records_the_note_and_tells_marketing_and_the_rep(world):
    fb = disputed(world)
    response = logged_in(world.manager).post(
        f"/disputes/{fb.pk}/resolve/",
        {"decision": "uphold", "resolution": "Not ready: no budget until Q3."},
        follow=True,
    )
    assert any("upheld" in m for m in messages_of(response))
    fb.refresh_from_db()
    assert fb.dispute_status == ReturnFeedback.DisputeStatus.UPHELD
    assert fb.dispute_resolution == "Not ready: no budget until Q3."
    assert fb.dispute_resolved_by == world.manager
    told = set(
        Notification.objects.filter(kind=Notification.Kind.DISPUTE_RESOLVED).values_list(
            "recipient__username", flat=True
        )
    )
    assert told == {world.marketer.username, world.rep.username}
    assert "Not ready: no budget until Q3." in text(response)  # the recently decided table


def test_overturning_reopens_the_lead_for_marketing(world):
    fb = disputed(world)
    logged_in(world.manager).post(
        f"/disputes/{fb.pk}/resolve/",
        {"decision": "overturn", "resolution": "The demo request makes it timely."},
    )
    fb.refresh_from_db()
    fb.lead.refresh_from_db()
    assert fb.dispute_status == ReturnFeedback.DisputeStatus.OVERTURNED
    assert fb.lead.stage == Stage.LEAD


def test_a_decision_without_a_note_is_a_field_error_and_writes_nothing(world):
    fb = disputed(world)
    response = logged_in(world.manager).post(
        f"/disputes/{fb.pk}/resolve/", {"decision": "overturn", "resolution": "  "}
    )
    assert response.status_code == 400
    assert "Write the resolution" in text(response)
    fb.refresh_from_db()
    assert fb.dispute_status == ReturnFeedback.DisputeStatus.OPEN


def test_a_second_decision_is_refused_with_who_decided(world):
    fb = disputed(world)
    client = logged_in(world.manager)
    body = {"decision": "uphold", "resolution": "It stands."}
    client.post(f"/disputes/{fb.pk}/resolve/", body)
    again = client.post(f"/disputes/{fb.pk}/resolve/", body, follow=True)
    assert any("already resolved" in m for m in messages_of(again))


@pytest.mark.parametrize("rows", [2, 12])
def test_the_inbox_costs_the_same_queries_whatever_its_size(
    world, rows, django_assert_max_num_queries
):
    for i in range(rows):
        disputed(world, reply=f"Reply {i}")
    client = logged_in(world.manager)
    with django_assert_max_num_queries(9):
        assert client.get("/disputes/?per=25").status_code == 200
