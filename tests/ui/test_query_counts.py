"""Every list page does the same few queries whatever its size: measured at 5 and at 50 rows.

The budget of each page counts the session and user, the role lookup, the page's count and
rows, and the few option lists its filters show; nothing may be per row.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handoff.models import TeamMembership
from handoff.services import handoff_log_first_touch
from tests.ui.world import World, logged_in, make_world


@pytest.fixture
def world(db) -> World:
    return make_world()


def pending(world: World, n: int) -> None:
    for i in range(n):
        world.promote(world.lead(), ago=dt.timedelta(minutes=i % 70))


def waiting(world: World, n: int) -> None:
    for _ in range(n):
        world.ask(world.promote())


def accepted(world: World, n: int) -> None:
    for i in range(n):
        handoff = world.accept(world.promote())
        if i % 2:
            handoff_log_first_touch(handoff=handoff, actor=world.rep, channel="call")


def returned(world: World, n: int) -> None:
    for i in range(n):
        world.give_back(world.promote(), "bad-data" if i % 2 else "not-ready", note="n")


def leads(world: World, n: int) -> None:
    for i in range(n):
        world.lead(score=40 + i, ready_for_sales=bool(i % 2))


def unassigned(world: World, n: int) -> None:
    TeamMembership.objects.filter(team=world.team).update(is_away=True)
    pending(world, n)


# page, who looks, how to make n rows, the query budget (session, user, roles, the navigation's
# counts (one query, feedback.nav), count, rows (the lead list and the returned queue: the
# sorted ids, then their rows), plus
# the filter option lists: campaigns and owners on the lead list, reasons and campaigns on the
# returned queue, the reps to pick and who is off today on the manager's queue)
PAGES = [
    ("/leads/", "marketer", leads, 9),
    ("/leads/?q=acme", "marketer", leads, 8),  # a search counts in the same scan
    ("/queue/", "rep", pending, 6),
    ("/queue/", "rep", waiting, 6),
    ("/accepted/", "rep", accepted, 6),
    ("/returned/", "marketer", returned, 9),
    ("/questions/", "marketer", waiting, 6),
    # + why each is unassigned (escalations), + what "next in rotation" would do (per team),
    # + who is off today, and their time off in that preview
    ("/manager/queue/", "manager", unassigned, 12),
]


def count_queries(client, url: str, expected_rows: int) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url + ("&" if "?" in url else "?") + "per=100")
    assert response.status_code == 200
    assert response.context["paged"].page.paginator.count == expected_rows
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    ("url", "who", "make", "budget"), PAGES, ids=[f"{p[0]} {p[2].__name__}" for p in PAGES]
)
def test_a_list_page_does_a_constant_number_of_queries(
    world, url, who, make, budget, django_assert_max_num_queries
):
    client = logged_in(getattr(world, who))
    make(world, 5)
    client.get(url)  # warm the calendar cache, as any earlier request of the process would
    with django_assert_max_num_queries(budget):
        small = count_queries(client, url, 5)
    make(world, 45)
    with django_assert_max_num_queries(budget):
        large = count_queries(client, url, 50)
    assert small == large


def test_the_queue_refresh_carries_the_navigation_counts_in_one_more_query(
    world, django_assert_max_num_queries
):
    client = logged_in(world.rep)
    pending(world, 5)
    client.get("/queue/")
    for extra in (0, 45):
        pending(world, extra)
        with django_assert_max_num_queries(6):
            response = client.get("/queue/?per=100", headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert '"navCounts"' in response["HX-Trigger"]
