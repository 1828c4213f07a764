"""The sales rep's pages: my queue with its clocks, the handoff packet, accept / ask / return,
first touch and qualification, and what a rep sees when someone got there first."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from feedback.models import ReturnFeedback
from feedback.services import feedback_acknowledge
from handoff import services
from handoff.models import Handoff
from handoff.states import Status
from leads.models import Stage
from tests.ui.world import World, logged_in, make_world, messages_of, text


@pytest.fixture
def world(db) -> World:
    return make_world()


def seen_of(client, handoff: Handoff) -> str:
    return client.get(f"/handoffs/{handoff.pk}/").context["seen"]


# --- my queue ------------------------------------------------------------------------------------


def test_my_queue_lists_my_pending_and_waiting_handoffs_nearest_deadline_first(world):
    later = world.promote(world.lead(first_name="Later"))
    sooner = world.promote(world.lead(first_name="Sooner"), ago=dt.timedelta(minutes=30))
    waiting = world.ask(world.promote(world.lead(first_name="Waiting")))
    accepted = world.accept(world.promote(world.lead(first_name="Accepted")))
    response = logged_in(world.rep).get("/queue/")
    ids = [row.handoff.pk for row in response.context["rows"]]
    assert ids == [sooner.pk, later.pk, waiting.pk]
    assert accepted.pk not in ids


def test_each_row_shows_its_countdown_in_business_time(world):
    world.promote(ago=dt.timedelta(minutes=20))
    response = logged_in(world.rep).get("/queue/")
    row = response.context["rows"][0]
    assert row.clock.tone == "ok" and row.clock.ticking
    assert 39 * 60 < row.clock.business_seconds <= 40 * 60
    html = response.content.decode()
    assert 'data-clock data-business-seconds="' in html and 'data-ticking="1"' in html
    assert "40m left" in text(response) or "39m left" in text(response)


def test_at_risk_late_and_paused_clocks_are_told_apart(world):
    world.promote(world.lead(first_name="Risky"), ago=dt.timedelta(minutes=50))
    world.promote(world.lead(first_name="Late"), ago=dt.timedelta(minutes=75))
    world.ask(world.promote(world.lead(first_name="Paused"), ago=dt.timedelta(minutes=20)))
    response = logged_in(world.rep).get("/queue/")
    tones = {row.handoff.lead.first_name: row.clock.tone for row in response.context["rows"]}
    assert tones == {"Late": "late", "Risky": "at-risk", "Paused": "paused"}
    page = text(response)
    assert "late by 15m" in page and "paused, 40m left" in page
    html = response.content.decode()
    assert 'class="tone-late"' in html and 'class="tone-at-risk"' in html


def test_the_five_second_refresh_returns_the_rows_only(world):
    world.promote()
    response = logged_in(world.rep).get("/queue/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<tbody id="queue-rows"')
    # Every 5 s: a handoff promoted automatically shows up within 10 s of its signal.
    assert 'hx-trigger="every 5s' in html and "<html" not in html


def test_an_empty_queue_says_what_happens_next(world):
    page = text(logged_in(world.rep).get("/queue/"))
    assert "Your queue is empty" in page and "accepted leads" in page


# --- the packet ----------------------------------------------------------------------------------


def test_the_packet_shows_note_breakdown_activity_and_earlier_returns(world):
    lead = world.lead(first_name="Ana", last_name="Lima")
    world.event(lead, "demo_request", is_high_intent=True)
    first = world.promote(lead)
    world.give_back(first, "bad-data", note="Switchboard number only")
    feedback = ReturnFeedback.objects.get(handoff=first)
    feedback_acknowledge(feedback=feedback, actor=world.marketer, reply="Direct line added")
    # A new demo request lifts the cooldown, so marketing may promote the lead again.
    world.event(lead, "demo_request", is_high_intent=True, occurred_at=timezone.now())
    lead.refresh_from_db()
    second = world.promote(lead, note="Called back, direct line now: +1 555 0100")
    page = text(logged_in(world.rep).get(f"/handoffs/{second.pk}/"))
    assert "Called back, direct line now: +1 555 0100" in page
    assert "Score when promoted 72 MQL threshold 60" in page
    assert "Industry is software +30" in page and "Demo requested +15" in page
    assert "Demo requested high intent" in page
    assert "Returned before (1)" in page and "Bad contact data" in page
    assert "Switchboard number only" in page and "Marketing replied: “Direct line added”" in page


def test_another_reps_handoff_is_not_found(world):
    mine = world.promote()
    theirs = services.handoff_reassign(handoff=mine, actor=world.manager, to_rep=world.other_rep)
    client = logged_in(world.rep)
    assert client.get(f"/handoffs/{theirs.pk}/").status_code == 404
    assert client.post(f"/handoffs/{theirs.pk}/accept/").status_code == 404
    assert client.post(f"/handoffs/{theirs.pk}/return/", {"reason": "spam"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING


# --- accept, ask, return -------------------------------------------------------------------------


def test_accepting_from_the_queue_makes_it_a_sal_and_starts_the_first_touch_clock(world):
    handoff = world.promote()
    client = logged_in(world.rep)
    row = client.get("/queue/").context["rows"][0]
    response = client.post(
        f"/handoffs/{handoff.pk}/accept/", {"seen": row.seen, "next": "/queue/"}, follow=True
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.ACCEPTED and handoff.lead.stage == Stage.SAL
    assert any(m.startswith("Accepted:") and "First touch due" in m for m in messages_of(response))
    accepted = client.get("/accepted/")
    assert [r.handoff.pk for r in accepted.context["rows"]] == [handoff.pk]
    assert "2h 00m left" in text(accepted) or "1h 59m left" in text(accepted)


def test_asking_marketing_pauses_the_clock_with_the_time_left(world):
    handoff = world.promote(ago=dt.timedelta(minutes=15))
    client = logged_in(world.rep)
    response = client.post(
        f"/handoffs/{handoff.pk}/ask/",
        {"question": "Is this the Toronto office?", "seen": seen_of(client, handoff)},
        follow=True,
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.WAITING
    assert any("Your clock is paused with 45m left" in m for m in messages_of(response))
    assert "Waiting for marketing" in text(client.get("/queue/"))


def test_a_blank_question_is_a_field_error(world):
    handoff = world.promote()
    response = logged_in(world.rep).post(f"/handoffs/{handoff.pk}/ask/", {"question": ""})
    assert response.status_code == 400
    assert response.context["ask_form"].errors["question"] == ["Say what information is missing."]
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING


def test_returning_needs_a_reason(world):
    handoff = world.promote()
    response = logged_in(world.rep).post(f"/handoffs/{handoff.pk}/return/", {"reason": ""})
    assert response.status_code == 400
    assert "Pick a reason for returning the lead." in text(response)
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING and not ReturnFeedback.objects.exists()


def test_a_reason_that_needs_a_note_says_so_on_the_note_field(world):
    handoff = world.promote()
    response = logged_in(world.rep).post(
        f"/handoffs/{handoff.pk}/return/", {"reason": "bad-data", "note": ""}
    )
    assert response.status_code == 400
    form = response.context["return_form"]
    assert form.errors["note"] == ["“Bad contact data” needs a note saying what was wrong."]
    html = response.content.decode()
    assert '<details class="action" id="return" open>' in html
    assert '<option value="bad-data" selected>' in html
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING and not ReturnFeedback.objects.exists()


def test_a_return_goes_back_to_marketing_with_its_reason_and_effect(world):
    handoff = world.promote()
    client = logged_in(world.rep)
    response = client.post(
        f"/handoffs/{handoff.pk}/return/",
        {"reason": "not-ready", "note": "Budget next year", "seen": seen_of(client, handoff)},
        follow=True,
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.RETURNED and handoff.lead.stage == Stage.RECYCLED
    assert any("Returned" in m and "Not ready yet" in m for m in messages_of(response))
    assert response.redirect_chain[-1][0] == "/queue/"
    queue = text(logged_in(world.marketer).get("/returned/"))
    assert "Not ready yet" in queue and "Budget next year" in queue


def test_the_reason_picker_lists_active_reasons_by_category_and_marks_notes(world):
    handoff = world.promote()
    html = logged_in(world.rep).get(f"/handoffs/{handoff.pk}/").content.decode()
    assert '<optgroup label="Timing"><option value="not-ready" >Not ready yet</option>' in html
    assert "Bad contact data (note required)" in html


# --- someone else got there first ----------------------------------------------------------------


def test_acting_on_a_stale_page_says_who_changed_it_instead_of_acting(world):
    handoff = world.promote()
    client = logged_in(world.rep)
    seen = seen_of(client, handoff)
    services.handoff_reassign(handoff=handoff, actor=world.manager, to_rep=world.other_rep)
    response = client.post(f"/handoffs/{handoff.pk}/accept/", {"seen": seen}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [
        f"Someone else (Max Manager) already reassigned this handoff ({handoff.lead}); it is now "
        "reassigned. Nothing was changed."
    ]
    handoff.refresh_from_db()
    assert handoff.status == Status.REASSIGNED


def test_a_return_after_a_pause_and_resume_elsewhere_is_a_conflict_too(world):
    handoff = world.promote()
    client = logged_in(world.rep)
    seen = seen_of(client, handoff)
    world.ask(handoff)
    services.handoff_provide_info(handoff=handoff, actor=world.marketer, answer="Toronto")
    response = client.post(
        f"/handoffs/{handoff.pk}/return/", {"reason": "not-ready", "seen": seen}, follow=True
    )
    assert "already answered the rep's question on this handoff" in messages_of(response)[0]
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING and not ReturnFeedback.objects.exists()


def test_a_double_click_on_accept_says_you_already_did(world):
    handoff = world.promote()
    client = logged_in(world.rep)
    seen = seen_of(client, handoff)
    client.post(f"/handoffs/{handoff.pk}/accept/", {"seen": seen})
    response = client.post(f"/handoffs/{handoff.pk}/accept/", {"seen": seen}, follow=True)
    assert messages_of(response)[-1].startswith("You already accepted this handoff")


def test_a_marketer_cannot_accept(world):
    handoff = world.promote()
    response = logged_in(world.marketer).post(f"/handoffs/{handoff.pk}/accept/", follow=True)
    assert "Only the assigned rep or a sales manager can accept this handoff." in messages_of(
        response
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING


# --- after accepting -----------------------------------------------------------------------------


def test_accepted_leads_list_untouched_first_with_their_first_touch_clock(world):
    touched = world.accept(world.promote(world.lead(first_name="Touched")))
    services.handoff_log_first_touch(handoff=touched, actor=world.rep, channel="call")
    fresh = world.accept(world.promote(world.lead(first_name="Fresh")))
    rows = logged_in(world.rep).get("/accepted/").context["rows"]
    assert [r.handoff.pk for r in rows] == [fresh.pk, touched.pk]
    assert rows[0].clock.kind == "first_touch" and rows[0].clock.state == "running"
    assert rows[1].clock.state == "met"


def test_logging_the_first_touch_stops_its_clock(world):
    handoff = world.accept(world.promote())
    client = logged_in(world.rep)
    row = client.get("/accepted/").context["rows"][0]
    response = client.post(
        f"/handoffs/{handoff.pk}/first-touch/",
        {"channel": "email", "seen": row.seen, "next": "/accepted/"},
        follow=True,
    )
    handoff.refresh_from_db()
    assert handoff.first_touch_channel == "email" and handoff.first_touch_at is not None
    assert any("First touch logged (email)" in m for m in messages_of(response))


def test_qualifying_needs_every_bant_answer_and_shows_each_missing_one(world):
    handoff = world.accept(world.promote())
    client = logged_in(world.rep)
    response = client.post(f"/handoffs/{handoff.pk}/qualify/", {"budget": "50k"})
    assert response.status_code == 400
    errors = response.context["qualify_form"].errors
    assert errors == {
        "authority": ["Answer the authority question."],
        "need": ["Answer the need question."],
        "timeline": ["Answer the timeline question."],
    }
    handoff.refresh_from_db()
    assert handoff.status == Status.ACCEPTED


def test_qualifying_makes_the_lead_an_sql(world):
    handoff = world.accept(world.promote())
    client = logged_in(world.rep)
    bant = {"budget": "50k", "authority": "CFO", "need": "Routing", "timeline": "Q3"}
    response = client.post(
        f"/handoffs/{handoff.pk}/qualify/", {**bant, "seen": seen_of(client, handoff)}, follow=True
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.QUALIFIED and handoff.bant == bant
    assert handoff.lead.stage == Stage.SQL
    assert any("is a sales-qualified lead (SQL)" in m for m in messages_of(response))
    assert "Qualified as SQL" in text(client.get(f"/handoffs/{handoff.pk}/"))


def test_an_accepted_lead_can_still_be_returned(world):
    handoff = world.accept(world.promote())
    client = logged_in(world.rep)
    client.post(
        f"/handoffs/{handoff.pk}/return/",
        {"reason": "no-budget", "seen": seen_of(client, handoff)},
    )
    handoff.refresh_from_db()
    assert handoff.status == Status.RETURNED


def test_a_post_without_the_csrf_token_is_refused(world):
    from django.test import Client

    handoff = world.promote()
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.rep)
    assert client.post(f"/handoffs/{handoff.pk}/accept/").status_code == 403
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING
    page = client.get(f"/handoffs/{handoff.pk}/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(f"/handoffs/{handoff.pk}/accept/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    handoff.refresh_from_db()
    assert handoff.status == Status.ACCEPTED


@pytest.mark.parametrize(
    "seen", ["garbage", "pending|2026-13-45T00:00:00+00:00|", "accepted||", "pending|x\x00|"]
)
def test_a_mangled_version_is_refused_with_a_message_and_nothing_changes(world, seen):
    handoff = world.promote()
    response = logged_in(world.rep).post(
        f"/handoffs/{handoff.pk}/accept/", {"seen": seen}, follow=True
    )
    assert response.status_code == 200
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING
    assert messages_of(response)[0].startswith(("The page sent an unreadable", "Someone else"))


def test_an_empty_queue_polls_for_its_first_handoff(world):
    page = logged_in(world.rep).get("/queue/").content.decode()
    assert 'hx-trigger="every 5s"' in page and 'hx-select="#queue-main"' in page
    world.promote()
    refresh = logged_in(world.rep).get(
        "/queue/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-main"
    )
    html = refresh.content.decode()
    assert '<div id="queue-main">' in html and 'id="queue-rows"' in html
