"""What needs me now: the navigation counts per role, in one query, refreshed by the pages'
own HTMX polling (an HX-Trigger header the badges read)."""

from __future__ import annotations

import json
import re

import pytest

from feedback.nav import nav_counts
from handoff.models import TeamMembership
from tests.ui.world import World, logged_in, make_world


@pytest.fixture
def world(db) -> World:
    return make_world()


def badges(html: str) -> dict[str, int]:
    found = re.findall(
        r'data-nav-count="(\w+)"[^>]*>(?:<span class="sr-only">: </span>)?(\d+)', html
    )
    return {key: int(n) for key, n in found}


def test_a_rep_sees_new_handoffs_and_answered_questions(world):
    world.promote()
    world.promote()
    asked = world.ask(world.promote())
    _answer(world, asked)
    page = logged_in(world.rep).get("/queue/").content.decode()
    assert badges(page) == {"rep_new": 2, "rep_answered": 1}
    assert "2 new" in page and "1 answered" in page


def _answer(world: World, handoff):
    from handoff import services

    services.handoff_provide_info(handoff=handoff, actor=world.marketer, answer="EMEA, 200 seats")


def test_a_marketer_sees_open_questions_and_returns_to_review(world):
    world.ask(world.promote())
    world.give_back(world.promote(), "not-ready")
    world.give_back(world.promote(), "not-ready")
    page = logged_in(world.marketer).get("/leads/").content.decode()
    assert badges(page) == {"marketer_questions": 1, "marketer_returns": 2}


def test_a_manager_sees_unassigned_breaches_and_disputes(world):
    import datetime as dt

    TeamMembership.objects.filter(team=world.team).update(is_away=True)
    world.promote()  # nobody can take it
    TeamMembership.objects.filter(team=world.team, rep=world.rep).update(is_away=False)
    world.promote(ago=dt.timedelta(days=30))  # long past its deadline
    returned = world.give_back(world.promote(), "not-ready")
    logged_in(world.marketer).post(
        f"/returned/{returned.pk}/acknowledge/", {"reply": "Wrong", "follow_up": "dispute"}
    )
    page = logged_in(world.manager).get("/manager/queue/").content.decode()
    assert badges(page) == {
        "manager_unassigned": 1,
        "manager_breaches": 1,
        "manager_disputes": 1,
    }


def test_zero_counts_are_hidden_but_present_for_the_refresh(world):
    page = logged_in(world.rep).get("/queue/").content.decode()
    assert 'class="nav-count zero" data-nav-count="rep_new"' in page


def test_the_pages_refresh_sends_fresh_counts(world):
    client = logged_in(world.rep)
    client.get("/queue/")
    world.promote()
    refresh = client.get("/queue/", headers={"HX-Request": "true"})
    assert json.loads(refresh["HX-Trigger"]) == {"navCounts": {"rep_new": 1, "rep_answered": 0}}


def test_counts_are_one_query(world, django_assert_num_queries):
    from core.roles import is_manager

    world.promote()
    assert is_manager(world.manager)  # the page has read the roles already
    with django_assert_num_queries(1):
        assert nav_counts(user=world.manager)["manager_unassigned"] == 0


def test_someone_with_no_role_has_no_counts(world):
    from tests.factories import UserFactory

    assert nav_counts(user=UserFactory(username="nobody")) == {}
