"""Marketing's pages: the lead list, a lead, promotion with its preview and refusals, questions
from sales, the returned queue and the feedback report. Through the real services, with the
Django test client (the browser flows are in test_browser.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from feedback.models import ReturnFeedback
from handoff.models import Handoff
from handoff.states import Status
from leads.models import EventKind, Lead, Source, Stage
from tests.ui.world import World, campaign, logged_in, make_world, messages_of, text


@pytest.fixture
def world(db) -> World:
    return make_world()


# --- who lands where, who may open what ------------------------------------------------------


def test_each_role_lands_on_its_main_page(world):
    assert logged_in(world.marketer).get("/")["Location"] == "/leads/"
    assert logged_in(world.rep).get("/")["Location"] == "/queue/"
    assert logged_in(world.manager).get("/")["Location"] in ("/dashboard/", "/manager/queue/")


def test_someone_without_a_role_is_told_to_ask_for_one(db):
    from tests.factories import UserFactory

    page = text(logged_in(UserFactory(username="nobody")).get("/"))
    assert "Your account has no role yet" in page


@pytest.mark.parametrize(
    "url", ["/", "/leads/", "/leads/1/", "/queue/", "/accepted/", "/returned/", "/feedback/"]
)
def test_every_page_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", ["/leads/", "/questions/", "/returned/", "/feedback/"])
def test_a_rep_gets_a_clear_403_on_marketing_pages(world, url):
    response = logged_in(world.rep).get(url)
    assert response.status_code == 403
    assert "This page is for marketing and sales managers." in text(response)


def test_navigation_shows_each_role_its_own_pages(world):
    marketer_nav = text(logged_in(world.marketer).get("/leads/"))
    assert "Questions from sales" in marketer_nav and "Returned to marketing" in marketer_nav
    assert "My queue" not in marketer_nav and "Unassigned" not in marketer_nav
    rep_nav = text(logged_in(world.rep).get("/queue/"))
    assert "My queue" in rep_nav and "My accepted leads" in rep_nav
    assert "Leads" not in rep_nav.split("My accepted leads")[1].split("Log out")[0]
    manager_nav = text(logged_in(world.manager).get("/manager/queue/"))
    assert "Unassigned" in manager_nav and "Admin" in manager_nav and "Leads" in manager_nav


# --- the lead list -------------------------------------------------------------------------------


def _rows(response) -> list[str]:
    return [lead.email for lead in response.context["paged"].rows]


def test_ready_leads_come_first_then_by_score(world):
    world.lead(email="cold@a.com", score=95, ready_for_sales=False)
    world.lead(email="ready-low@a.com", score=61)
    world.lead(email="ready-high@a.com", score=88)
    response = logged_in(world.marketer).get("/leads/")
    assert _rows(response) == ["ready-high@a.com", "ready-low@a.com", "cold@a.com"]
    assert _rows(logged_in(world.marketer).get("/leads/?sort=score")) == [
        "cold@a.com",
        "ready-high@a.com",
        "ready-low@a.com",
    ]


def test_filters_and_search_narrow_the_list(world):
    spring = campaign("Spring webinar")
    world.lead(email="ana@acme.com", company="Acme", source=Source.WEBINAR, campaign=spring)
    world.lead(email="bo@globex.com", company="Globex", score=40, ready_for_sales=False)
    world.lead(email="cy@initech.com", company="Initech", stage=Stage.RECYCLED, owner=None)
    client = logged_in(world.marketer)
    assert _rows(client.get("/leads/?q=globex")) == ["bo@globex.com"]
    assert _rows(client.get("/leads/?stage=recycled")) == ["cy@initech.com"]
    assert _rows(client.get("/leads/?source=webinar")) == ["ana@acme.com"]
    assert _rows(client.get(f"/leads/?campaign={spring.pk}")) == ["ana@acme.com"]
    assert set(_rows(client.get(f"/leads/?owner={world.marketer.pk}"))) == {
        "ana@acme.com",
        "bo@globex.com",
    }
    assert _rows(client.get("/leads/?score_min=30&score_max=50")) == ["bo@globex.com"]
    assert "bo@globex.com" not in _rows(client.get("/leads/?ready_for_sales=true"))


def test_the_search_box_finds_a_lead_by_full_name_domain_or_part_of_a_word(world):
    world.lead(email="ada@engines.co.uk", first_name="Ada", last_name="Lovelace", company="AE")
    world.lead(email="grace@navy.mil", first_name="Grace", last_name="Hopper", company="Navy")
    client = logged_in(world.marketer)
    assert _rows(client.get("/leads/?q=Ada+Lovelace")) == ["ada@engines.co.uk"]
    assert _rows(client.get("/leads/?q=NAVY.MIL")) == ["grace@navy.mil"]
    assert _rows(client.get("/leads/?q=ovela")) == ["ada@engines.co.uk"]
    assert _rows(client.get("/leads/?q=nobody")) == []


def test_the_filter_form_sent_untouched_lists_everything(world):
    world.lead(email="ana@acme.com")
    blank = "q=&stage=&source=&campaign=&owner=&score_min=&score_max=&sort=ready"
    assert _rows(logged_in(world.marketer).get(f"/leads/?{blank}")) == ["ana@acme.com"]
    world.give_back(world.promote(), "not-ready")
    blank = "q=&acknowledged=&reason=&category=&source=&campaign="
    assert len(logged_in(world.marketer).get(f"/returned/?{blank}").context["rows"]) == 1


def test_a_search_past_its_last_page_shows_the_last_page(world):
    for i in range(12):
        world.lead(email=f"s{i:02d}@search.com", score=60 + i)
    response = logged_in(world.marketer).get("/leads/?q=search.com&per=10&page=9")
    assert response.context["paged"].page.number == 2
    assert len(_rows(response)) == 2


def test_a_bad_filter_value_names_the_field_and_lists_nothing(world):
    world.lead()
    response = logged_in(world.marketer).get("/leads/?score_min=lots")
    assert response.status_code == 200
    (error,) = response.context["filter_errors"]["score_min"]
    assert error.startswith("Enter a") and error in text(response)
    assert _rows(response) == []


def test_the_list_is_paginated_and_keeps_the_filters(world):
    for i in range(12):
        world.lead(email=f"l{i:02d}@acme.com", score=60 + i)
    response = logged_in(world.marketer).get("/leads/?per=10&q=acme")
    assert len(_rows(response)) == 10
    assert "?q=acme&amp;per=10&amp;page=2" in response.content.decode() or (
        "?per=10&amp;q=acme&amp;page=2" in response.content.decode()
    )
    assert len(_rows(logged_in(world.marketer).get("/leads/?per=10&q=acme&page=2"))) == 2


def test_empty_states_say_what_to_do(world):
    client = logged_in(world.marketer)
    assert "Leads arrive through the API" in text(client.get("/leads/"))
    world.lead()
    assert "clear the filters" in text(client.get("/leads/?q=nothing-like-this"))


# --- one lead and its promotion ------------------------------------------------------------------


def test_the_lead_page_shows_breakdown_timeline_stages_and_past_handoffs(world):
    lead = world.lead(first_name="Ana", last_name="Lima", company="Acme")
    world.event(lead, EventKind.DEMO_REQUEST, is_high_intent=True)
    handoff = world.promote(lead)
    world.give_back(handoff, "bad-data", note="The phone number is the switchboard.")
    page = text(logged_in(world.marketer).get(f"/leads/{lead.pk}/"))
    assert "Ana Lima" in page
    assert "Industry is software +30" in page and "MQL threshold 60" in page
    assert "Demo requested high intent" in page
    assert "Lead → MQL" in page and "MQL → Recycled" in page
    assert f"#{handoff.pk}" in page and "Returned" in page and "bad-data" in page
    assert "Bad contact data" in page and "The phone number is the switchboard." in page
    assert "not reviewed yet" in page


def test_the_promote_page_previews_team_rep_policy_and_deadline(world):
    lead = world.lead()
    now = timezone.now()
    response = logged_in(world.marketer).get(f"/leads/{lead.pk}/promote/")
    page = text(response)
    assert "Team Inside Sales" in page
    assert "Rep Rob Rep (next in the rotation)" in page
    assert "Policy Standard v1: accept or return within 1h, first touch within 2h" in page
    due = response.context["preview"]["due_at"]
    assert dt.timedelta(minutes=59) < due - now < dt.timedelta(minutes=61)
    assert Handoff.objects.count() == 0  # a preview writes nothing


def test_the_preview_fragment_follows_the_team_picker(world):
    lead = world.lead()
    response = logged_in(world.marketer).get(
        f"/leads/{lead.pk}/promote/preview/?team={world.team.pk}", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert text(response).startswith(" What will happen") or "What will happen" in text(response)
    assert "<html" not in response.content.decode()


def test_promoting_hands_the_lead_over_and_says_to_whom(world):
    lead = world.lead(first_name="Ana", last_name="Lima")
    response = logged_in(world.marketer).post(
        f"/leads/{lead.pk}/promote/", {"note": "Wants a demo this week", "team": ""}, follow=True
    )
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.assigned_to == world.rep and handoff.context_note == "Wants a demo this week"
    assert any("Promoted to sales: Ana Lima went to Rob Rep" in m for m in messages_of(response))
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_a_lead_in_cooldown_is_refused_with_the_reason_and_nothing_is_written(world):
    lead = world.lead()
    world.give_back(world.promote(lead), "not-ready")
    client = logged_in(world.marketer)
    assert "cools down until" in text(client.get(f"/leads/{lead.pk}/"))
    page = client.get(f"/leads/{lead.pk}/promote/")
    assert "Cannot be promoted now." in text(page) and "cools down until" in text(page)
    before = Handoff.objects.count()
    response = client.post(f"/leads/{lead.pk}/promote/", {"note": "again"})
    assert response.status_code == 400
    assert "cools down until" in text(response)
    assert Handoff.objects.count() == before


def test_a_disqualified_lead_says_a_manager_must_reopen_it(world):
    lead = world.lead()
    world.give_back(world.promote(lead), "competitor")
    page = text(logged_in(world.marketer).get(f"/leads/{lead.pk}/promote/"))
    assert "a sales manager must reopen it" in page


def test_a_lead_already_with_sales_points_to_its_open_handoff(world):
    lead = world.lead()
    handoff = world.promote(lead)
    client = logged_in(world.marketer)
    page = text(client.get(f"/leads/{lead.pk}/"))
    assert f"With sales now: handoff #{handoff.pk} is pending, with Rob Rep" in page
    response = client.post(f"/leads/{lead.pk}/promote/", {"note": "twice"})
    assert response.status_code == 400
    assert "already with sales" in text(response) or "open handoff" in text(response)
    assert Handoff.objects.filter(lead=lead).count() == 1


def test_a_too_long_note_is_a_field_error(world):
    lead = world.lead()
    response = logged_in(world.marketer).post(f"/leads/{lead.pk}/promote/", {"note": "x" * 5001})
    assert response.status_code == 400
    assert response.context["form"].errors["note"]
    assert not Handoff.objects.exists()


# --- questions from sales ------------------------------------------------------------------------


def test_questions_from_sales_are_listed_and_answering_resumes_the_clock(world):
    handoff = world.ask(world.promote(ago=dt.timedelta(minutes=20)), "Which plan did they trial?")
    client = logged_in(world.marketer)
    page = text(client.get("/questions/"))
    assert "Which plan did they trial?" in page and "paused, 40m left" in page
    row = client.get("/questions/").context["rows"][0]
    response = client.post(
        f"/handoffs/{handoff.pk}/answer/",
        {"answer": "The team plan.", "seen": row.seen, "next": "/questions/"},
        follow=True,
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING and handoff.info_answer == "The team plan."
    assert any("their clock is running again (40m left)" in m for m in messages_of(response))
    assert "No open questions" in text(response)


def test_a_blank_answer_is_a_field_error_and_the_clock_stays_paused(world):
    handoff = world.ask(world.promote())
    response = logged_in(world.marketer).post(f"/handoffs/{handoff.pk}/answer/", {"answer": " "})
    assert response.status_code == 400
    assert "Write the answer for the rep." in text(response)
    handoff.refresh_from_db()
    assert handoff.status == Status.WAITING


def test_a_question_from_a_manager_about_an_unassigned_handoff_is_listed(world):
    from handoff.models import TeamMembership
    from handoff.services import handoff_request_info

    TeamMembership.objects.filter(team=world.team).update(is_away=True)
    handoff = world.promote()
    assert handoff.assigned_to is None
    handoff_request_info(handoff=handoff, actor=world.manager, question="Budget owner?")
    page = text(logged_in(world.marketer).get("/questions/"))
    assert "Sales asked" in page and "Budget owner?" in page


def test_a_return_acknowledged_by_a_deleted_account_still_lists(world):
    from tests.factories import UserFactory

    feedback = world.give_back(world.promote(), "not-ready")
    colleague = UserFactory(username="gone.marketer", role="Marketing")
    logged_in(colleague).post(f"/returned/{feedback.pk}/acknowledge/", {"reply": "ok"})
    colleague.delete()
    page = text(logged_in(world.marketer).get("/returned/"))
    assert "Acknowledged by marketing" in page


def test_a_marketer_sees_only_questions_on_leads_they_promoted_or_own(world):
    from tests.factories import UserFactory

    world.ask(world.promote())
    other = UserFactory(username="mo.marketer", role="Marketing")
    assert "No open questions" in text(logged_in(other).get("/questions/"))


# --- the returned queue --------------------------------------------------------------------------


def test_returns_wait_for_review_first_and_can_be_acknowledged_with_a_reply(world):
    older = world.give_back(world.promote(), "not-ready")
    feedback = world.give_back(world.promote(), "bad-data", note="Wrong number")
    client = logged_in(world.marketer)
    client.post(f"/returned/{older.pk}/acknowledge/", {"reply": "", "follow_up": ""})
    response = client.get("/returned/")
    assert [fb.pk for fb, _form in response.context["rows"]] == [feedback.pk, older.pk]
    page = text(response)
    assert "Bad contact data" in page and "Wrong number" in page and "To review" in page
    response = client.post(
        f"/returned/{feedback.pk}/acknowledge/",
        {"reply": "Fixed the number", "follow_up": "fix_data", "next": "/returned/"},
        follow=True,
    )
    feedback.refresh_from_db()
    assert feedback.acknowledged_at is not None and feedback.reply == "Fixed the number"
    assert feedback.follow_up == ReturnFeedback.FollowUp.FIX_DATA
    assert any("Acknowledged the return of" in m for m in messages_of(response))


def test_a_dispute_without_a_reply_names_the_reply_field_and_writes_nothing(world):
    feedback = world.give_back(world.promote(), "not-ready")
    response = logged_in(world.marketer).post(
        f"/returned/{feedback.pk}/acknowledge/", {"reply": "", "follow_up": "dispute"}
    )
    assert response.status_code == 400
    assert "Say why you dispute the return" in text(response)
    assert response.context["error_row"] == feedback.pk
    feedback.refresh_from_db()
    assert feedback.acknowledged_at is None


def test_acknowledging_what_someone_else_just_acknowledged_says_so(world):
    from tests.factories import UserFactory

    feedback = world.give_back(world.promote(), "not-ready")
    colleague = UserFactory(username="mo.marketer", role="Marketing")
    logged_in(colleague).post(f"/returned/{feedback.pk}/acknowledge/", {"reply": "mine"})
    response = logged_in(world.marketer).post(
        f"/returned/{feedback.pk}/acknowledge/", {"reply": "me too"}, follow=True
    )
    assert response.status_code == 200
    assert "This return was already acknowledged by someone else." in messages_of(response)
    feedback.refresh_from_db()
    assert feedback.reply == "mine"


def test_the_returned_queue_filters_by_reason_and_status(world):
    world.give_back(world.promote(), "not-ready")
    world.give_back(world.promote(), "bad-data", note="x")
    client = logged_in(world.marketer)
    rows = client.get("/returned/?reason=bad-data").context["rows"]
    assert [fb.reason.code for fb, _ in rows] == ["bad-data"]
    assert client.get("/returned/?acknowledged=true").context["rows"] == []
    assert "Nothing came back" not in text(client.get("/returned/?acknowledged=true"))


# --- the feedback report -------------------------------------------------------------------------


def test_the_feedback_report_shows_the_reason_mix_sources_and_the_advisor(world):
    world.give_back(world.promote(world.lead(source=Source.WEBINAR)), "not-ready")
    world.accept(world.promote(world.lead(source=Source.EVENT)))
    page = text(logged_in(world.marketer).get("/feedback/"))
    assert "2 handoffs" in page and "1 accepted (50%)" in page and "1 returned (50%)" in page
    assert "Not ready yet Timing 1 100%" in page
    assert "Webinar 1 0 1 100%" in page and "Event 1 1 0 0%" in page
    assert "Where should the MQL threshold sit?" in page


def test_the_report_shows_the_last_eight_weeks_unless_asked_for_all_time(world):
    world.promote(ago=dt.timedelta(days=70))
    world.promote()
    client = logged_in(world.marketer)
    response = client.get("/feedback/")
    monday = timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday(), weeks=7)
    assert response.context["form"]["date_from"].value() == monday.isoformat()
    assert response.context["metrics"]["totals"]["handoffs"] == 1
    everything = client.get("/feedback/?all=1")
    assert everything.context["metrics"]["totals"]["handoffs"] == 2
    assert "Last 8 weeks" in text(everything)


def test_a_bad_report_date_names_the_field(world):
    response = logged_in(world.marketer).get("/feedback/?date_from=2026-02-30")
    assert response.status_code == 400
    assert "date_from must be a date like 2026-01-31." in text(response)
    assert response.context["form"].errors["date_from"]


def test_promotion_from_the_list_needs_a_marketer(world):
    lead = world.lead()
    response = logged_in(world.rep).post(f"/leads/{lead.pk}/promote/", {"note": "x"})
    assert response.status_code == 403
    assert not Handoff.objects.exists()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.LEAD


@pytest.mark.parametrize(
    "url",
    [
        "/leads/?q=%00",
        "/leads/?page=99999999999999999999&per=abc",
        "/leads/?campaign=99999999999999999999999&owner=-1",
        "/leads/?q=" + "x" * 3000,
        "/returned/?q=%00&campaign=99999999999999999999999",
        "/feedback/?team=99999999999999999999999&source=nope",
        "/leads/{lead}/promote/preview/?team=99999999999999999999999",
        "/queue/?page=-1",
        "/questions/?page=abc",
    ],
)
def test_odd_query_parameters_never_break_a_page(world, url):
    lead = world.lead()
    world.give_back(world.promote(), "not-ready")
    response = logged_in(world.manager).get(url.format(lead=lead.pk))
    assert response.status_code in (200, 400)
