"""A promotion is a warm handoff: the context note for the rep is required, at least 20
characters once trimmed, in the service, the API (400 naming `note`) and the page."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from handoff import services
from handoff.models import Handoff
from leads.models import Stage
from tests.handoff.world import World, make_world
from tests.ui.world import logged_in, text


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


@pytest.mark.parametrize("note", ["", "   ", "Hot one", "  19 characters..  " + " " * 10])
def test_a_promotion_without_a_real_context_note_is_refused_naming_note(world, note):
    lead = world.lead()
    with pytest.raises(ValidationFailed) as refused:
        services.handoff_promote(lead=lead, actor=world.marketer, note=note)
    assert refused.value.field == "note"
    assert not Handoff.objects.exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD


def test_a_note_of_twenty_characters_is_kept_trimmed(world):
    h = services.handoff_promote(
        lead=world.lead(), actor=world.marketer, note="  Asked for a demo today.  "
    )
    assert h.context_note == "Asked for a demo today."


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": " too short "}])
def test_the_api_answers_400_naming_note_and_writes_nothing(world, client_for, body):
    lead = world.lead()
    response = client_for(world.marketer).post(
        f"/api/leads/{lead.pk}/promote/", body, format="json"
    )
    assert response.status_code == 400, response.content
    answer = response.json()
    assert (answer["code"], answer["field"]) == ("note_too_short", "note")
    assert "at least 20 characters" in answer["detail"]
    assert not Handoff.objects.exists()


def test_the_promote_page_shows_the_missing_note_on_its_field(world):
    lead = world.lead()
    response = logged_in(world.marketer).post(f"/leads/{lead.pk}/promote/", {"note": "  hot  "})
    assert response.status_code == 400
    assert "at least 20 characters" in " ".join(response.context["form"].errors["note"])
    assert "at least 20 characters" in text(response)
    assert not Handoff.objects.exists()
