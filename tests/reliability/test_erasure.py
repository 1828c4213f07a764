"""Personal data: `manage.py erase_lead EMAIL` and the admin action remove the person from every
table (a scan of every text and JSON column of every table finds nothing), keep the reports'
figures, record one Erasure row, and block the email everywhere it could come back in."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from config.erasure import erase_person
from core.models import OutboxMessage
from feedback import services as feedback_services
from feedback.models import ReturnFeedback
from feedback.selectors import MetricsFilters, feedback_metrics
from handoff import metrics
from handoff import services as handoff_services
from handoff.models import Handoff, HandoffEvent, Notification
from leads import services as lead_services
from leads.erasure import email_hash
from leads.models import EngagementEvent, Erasure, Lead, LeadStageChange
from tests.reliability.security_world import SecurityWorld, make_security_world

EMAIL = "zephyrine.quillfeather@quill-example.test"
FIRST, LAST, PHONE = "Zephyrine", "Quillfeather", "+44 20 7946 0958"
# What the scan looks for, in every text and JSON column of every table.
TERMS = (EMAIL, "zephyrine.quillfeather", FIRST, LAST, PHONE, "7946 0958")


@pytest.fixture
def world(db) -> SecurityWorld:
    return make_security_world()


def api(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_json(client: Client, url: str, body: Any, **headers: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def the_persons_whole_story(world: SecurityWorld) -> Lead:
    """Everything the desk can hold about one person, written through the real ways in."""
    marketer, rep, manager = (world.users[k] for k in ("marketer", "rep", "manager"))
    now = timezone.now()
    answer = post_json(
        api(marketer),
        "/api/leads/bulk/",
        {
            "leads": [
                {
                    "email": f" {EMAIL.title()} ",
                    "first_name": FIRST,
                    "last_name": LAST,
                    "phone": PHONE,
                    "title": "CFO",
                    "company": "Quill & Co",
                    "country": "GB",
                    "events": [
                        {
                            "kind": "contact_form",
                            "occurred_at": (now - dt.timedelta(hours=1)).isoformat(),
                            "external_id": "crm-zq-1",
                            "payload": {"message": f"Hi, {FIRST} here, call {PHONE}"},
                        }
                    ],
                },
                {"email": "someone.else@other-example.test", "first_name": "Other"},
            ]
        },
        HTTP_IDEMPOTENCY_KEY="sync-0001",
    )
    assert answer.status_code == 200, answer.content
    lead = Lead.objects.get(email=EMAIL)
    Lead.objects.filter(pk=lead.pk).update(owner=marketer)
    recorded = post_json(
        api(marketer),
        f"/api/leads/{lead.pk}/events/",
        {
            "kind": "demo_request",
            "occurred_at": (now - dt.timedelta(minutes=30)).isoformat(),
            "payload": {"email": EMAIL, "form": f"{FIRST} {LAST} wants a demo"},
        },
    )
    assert recorded.status_code == 201, recorded.content
    lead.refresh_from_db()

    first = world.promote("rep", lead=lead, note=f"{FIRST} called twice; mobile {PHONE}.")
    first = handoff_services.handoff_request_info(
        handoff=first, actor=rep, question=f"Is {FIRST} {LAST} the budget holder?"
    )
    first = handoff_services.handoff_provide_info(
        handoff=first, actor=marketer, answer=f"Yes, {FIRST} signs; write to {EMAIL}."
    )
    feedback = feedback_services.feedback_return_handoff(
        handoff=first, actor=rep, reason="bad-data", note=f"{PHONE} is not {FIRST}'s number."
    )
    feedback = feedback_services.feedback_acknowledge(
        feedback=feedback,
        actor=marketer,
        reply=f"{FIRST} confirmed {PHONE} by email.",
        follow_up="dispute",
    )
    feedback_services.feedback_resolve_dispute(
        feedback=feedback,
        actor=manager,
        upheld=False,
        resolution=f"Marketing is right: {LAST} answers that number.",
    )
    lead.refresh_from_db()
    second = world.promote("rep_mate", lead=lead, note=f"Second try with {FIRST} {LAST}.")
    second = handoff_services.handoff_reassign(
        handoff=second, actor=manager, to_rep=world.users["rep"], reason=f"{FIRST} asked Rob"
    )
    second = handoff_services.handoff_accept(handoff=second, actor=rep)
    second = handoff_services.handoff_log_first_touch(
        handoff=second, actor=rep, channel="call", note=f"Spoke to {FIRST} on {PHONE}."
    )
    handoff_services.handoff_qualify(
        handoff=second,
        actor=rep,
        bant={
            "budget": "50k",
            "authority": f"{FIRST} {LAST} (CFO)",
            "need": "Reporting",
            "timeline": "Q3",
        },
        note=f"{LAST} is in.",
    )
    LogEntry.objects.log_actions(
        user_id=marketer.pk,
        queryset=[lead],
        action_flag=CHANGE,
        change_message=f"Fixed {FIRST}'s phone",
    )
    OutboxMessage.objects.create(
        task="leads.tasks.crm_sync", kwargs={"email": EMAIL}, created_at=now, available_at=now
    )
    return Lead.objects.get(pk=lead.pk)


# --- the scan -------------------------------------------------------------------------------


def text_columns() -> list[tuple[str, str]]:
    """Every text-like and JSON column of every table, read from the database's catalogue."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND data_type IN "
                "('character varying', 'text', 'character', 'json', 'jsonb') "
                "ORDER BY table_name, ordinal_position"
            )
            return list(cursor.fetchall())
        columns = []
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'PRAGMA table_info("{table}")')
            for _, name, kind, *_ in cursor.fetchall():
                if re.search(r"char|text|clob|json", kind, re.I) or kind == "":
                    columns.append((table, name))
        return columns


def personal_data_hits(terms: tuple[str, ...] = TERMS) -> dict[str, int]:
    """Rows per "table.column" whose value contains any of the terms (case-insensitive)."""
    hits: dict[str, int] = {}
    likes = [f"%{t.lower()}%" for t in terms]
    with connection.cursor() as cursor:
        for table, column in text_columns():
            where = " OR ".join(f'LOWER(CAST("{column}" AS TEXT)) LIKE %s' for _ in likes)
            cursor.execute(f'SELECT COUNT(*) FROM "{table}" WHERE {where}', likes)
            count = cursor.fetchone()[0]
            if count:
                hits[f"{table}.{column}"] = count
    return hits


def aggregates(now: dt.datetime) -> dict[str, Any]:
    """The reports' figures, without the display labels that name leads."""
    sla = metrics.sla_metrics(metrics.SlaFilters.default(now=now), now=now)
    for kind in sla["open_now"].values():
        for row in kind if isinstance(kind, list) else []:
            row.pop("lead", None)
    return {"feedback": feedback_metrics(MetricsFilters()), "sla": sla}


# --- erasure ---------------------------------------------------------------------------------


def test_erase_lead_removes_the_person_from_every_table_and_keeps_the_figures(world, figure):
    lead = the_persons_whole_story(world)
    handoffs = Handoff.objects.filter(lead=lead).count()
    events = HandoffEvent.objects.filter(handoff__lead=lead).count()
    now = timezone.now()
    before_figures = aggregates(now)
    before = personal_data_hits()
    # The scan is real: before the erasure it finds the person everywhere they were written.
    for column in [
        "leads_lead.email",
        "leads_lead.first_name",
        "leads_lead.phone",
        "leads_historicallead.email",
        "leads_historicallead.first_name",
        "leads_historicallead.last_name",
        "leads_historicallead.phone",
        "leads_engagementevent.payload",
        "leads_idempotencyrecord.response_body",
        "leads_outboxmessage.kwargs",
        "handoff_handoff.context_note",
        "handoff_handoff.info_question",
        "handoff_handoff.info_answer",
        "handoff_handoff.bant",
        "handoff_handoff.engagement_snapshot",
        "handoff_handoffevent.note",
        "handoff_handoffevent.payload",
        "handoff_handoffevent.reason",
        "handoff_notification.subject",
        "handoff_notification.body",
        "feedback_returnfeedback.note",
        "feedback_returnfeedback.reply",
        "feedback_returnfeedback.dispute_resolution",
        "django_admin_log.object_repr",
        "django_admin_log.change_message",
    ]:
        assert before.get(column), (column, before)

    out = io.StringIO()
    call_command("erase_lead", f" {EMAIL.upper()} ", "--by", "max.manager", stdout=out)

    after = personal_data_hits()
    figure("6 erasure", "personal-data hits after erase_lead (all text/JSON columns)", "0",
           f"{sum(after.values())} (before: {sum(before.values())} in {len(before)} columns, "
           f"{len(text_columns())} columns scanned)")  # fmt: skip
    assert after == {}
    assert f"Erased lead #{lead.pk}" in out.getvalue()
    erasure = Erasure.objects.get()
    assert erasure.email_hash == email_hash(EMAIL) and EMAIL not in json.dumps(erasure.summary)
    assert erasure.lead_id_erased == lead.pk and erasure.erased_by == world.users["manager"]
    assert erasure.summary["handoff.handoff"] == handoffs
    # Nothing was deleted: the same rows, and the same figures in every report.
    assert Handoff.objects.filter(lead=lead).count() == handoffs
    assert HandoffEvent.objects.filter(handoff__lead=lead).count() == events
    assert aggregates(now) == before_figures
    lead.refresh_from_db()
    assert lead.erased_at is not None and lead.stage == "sql" and lead.source == "other"
    assert EngagementEvent.objects.filter(lead=lead).count() == 2
    assert not EngagementEvent.objects.filter(lead=lead).exclude(payload={}).exists()


def test_no_audit_row_of_the_lead_holds_the_email_name_or_phone_after_erasure(world):
    lead = the_persons_whole_story(world)
    lead_services.lead_update(
        lead=lead, data={"phone": "+44 20 7946 0000"}, actor=world.users["manager"]
    )
    rows = Lead.history.filter(id=lead.pk)
    assert rows.filter(email=EMAIL).count() >= 2  # created, then edited

    erase_person(email=EMAIL, actor=world.users["manager"])

    for row in rows.values("email", "first_name", "last_name", "phone", "title"):
        assert row == {
            "email": f"erased-{lead.pk}@erased.invalid",
            "first_name": "",
            "last_name": "",
            "phone": "",
            "title": "",
        }
    last = rows.first()
    assert (last.history_type, last.history_change_reason) == ("~", "erased on request")
    assert last.erased_at is not None


def test_the_other_leads_of_a_shared_bulk_answer_keep_their_data(world):
    the_persons_whole_story(world)
    erase_person(email=EMAIL)
    record = world.users["marketer"]  # the bulk request's Idempotency-Key record
    from leads.models import IdempotencyRecord

    body = IdempotencyRecord.objects.get(user=record).response_body
    assert "someone.else@other-example.test" in body and EMAIL not in body


def test_erasing_twice_records_one_erasure(world):
    the_persons_whole_story(world)
    call_command("erase_lead", EMAIL, stdout=io.StringIO())
    out = io.StringIO()
    call_command("erase_lead", EMAIL, stdout=out)
    assert "Already erased" in out.getvalue()
    assert Erasure.objects.count() == 1


def test_an_email_nobody_has_is_blocked_all_the_same(world):
    out = io.StringIO()
    call_command("erase_lead", "ghost@example.test", stdout=out)
    assert "No lead has this email" in out.getvalue()
    refused = post_json(
        api(world.users["marketer"]), "/api/leads/", {"email": "Ghost@Example.test"}
    )
    assert refused.status_code == 400 and refused.json()["code"] == "erased_email"


def test_erase_lead_needs_an_email_and_a_known_user():
    with pytest.raises(CommandError):
        call_command("erase_lead", "  ", stdout=io.StringIO())


@pytest.mark.django_db
def test_only_managers_may_erase(world):
    lead = world.leads["own"]
    with pytest.raises(Exception, match="Only sales managers"):
        erase_person(email=lead.email, actor=world.users["marketer"])
    with pytest.raises(CommandError, match="Only sales managers"):
        call_command("erase_lead", lead.email, "--by", "rob.rep", stdout=io.StringIO())
    assert not Erasure.objects.exists()


# --- the blocklist: every way in refuses the email ---------------------------------------------


@pytest.fixture
def erased(world) -> SecurityWorld:
    the_persons_whole_story(world)
    erase_person(email=EMAIL, actor=world.users["manager"])
    return world


def test_the_api_refuses_the_erased_email(erased):
    client = api(erased.users["marketer"])
    count = Lead.objects.count()
    one = post_json(client, "/api/leads/", {"email": f"  {EMAIL.upper()}", "first_name": FIRST})
    assert one.status_code == 400
    assert one.json() == {
        "code": "erased_email",
        "detail": "This person asked for their data to be erased: their email cannot be added "
        "again.",
        "field": "email",
    }
    bulk = post_json(
        client,
        "/api/leads/bulk/",
        {"leads": [{"email": EMAIL, "first_name": FIRST}, {"email": "fresh@new-example.test"}]},
    )
    assert bulk.status_code == 200
    rows = bulk.json()["results"]
    assert rows[0]["status"] == "error" and "erased" in rows[0]["errors"]["email"][0]
    assert rows[1]["status"] == "created"
    assert Lead.objects.count() == count + 1
    other = erased.leads["own"]
    patch = client.patch(
        f"/api/leads/{other.pk}/", json.dumps({"email": EMAIL}), content_type="application/json"
    )
    assert patch.status_code == 400 and patch.json()["code"] == "erased_email"
    assert not Lead.objects.filter(email=EMAIL).exists()


def test_the_erased_lead_takes_no_new_data(erased):
    client = api(erased.users["marketer"])
    lead = Lead.objects.get(erased_at__isnull=False)
    event = post_json(
        client,
        f"/api/leads/{lead.pk}/events/",
        {"kind": "page_view", "occurred_at": timezone.now().isoformat(), "payload": {"x": 1}},
    )
    assert event.status_code == 400 and event.json()["code"] == "lead_erased"
    bulk = post_json(
        client,
        "/api/events/bulk/",
        {"events": [{"lead_id": lead.pk, "kind": "page_view",
                     "occurred_at": timezone.now().isoformat()}]},
    )  # fmt: skip
    assert bulk.json()["results"][0]["status"] == "error"
    patch = client.patch(
        f"/api/leads/{lead.pk}/", json.dumps({"first_name": FIRST}), content_type="application/json"
    )
    assert patch.status_code == 400 and patch.json()["code"] == "lead_erased"
    promote = post_json(client, f"/api/leads/{lead.pk}/promote/", {"note": "again"})
    assert promote.status_code in (400, 409)
    assert EngagementEvent.objects.filter(lead=lead).count() == 2
    assert Lead.objects.get(pk=lead.pk).first_name == ""


def test_import_leads_refuses_the_erased_email_naming_the_line(erased, tmp_path: Path):
    path = tmp_path / "leads.csv"
    path.write_text(f"email,first_name\nok@fine-example.test,Ok\n{EMAIL.upper()},{FIRST}\n")
    count = Lead.objects.count()
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 rows are bad"):
        call_command("import_leads", str(path), "--no-progress", stderr=err)
    assert "line 3: email: This person asked for their data to be erased" in err.getvalue()
    assert Lead.objects.count() == count


def test_the_admin_import_refuses_the_erased_email(erased):
    client = Client()
    client.force_login(erased.users["marketer"])
    count = Lead.objects.count()
    csv = f"email,first_name\nok@fine-example.test,Ok\n{EMAIL},{FIRST}\n"
    uploaded = client.post(
        "/admin/leads/lead/import/",
        {"file": SimpleUploadedFile("leads.csv", csv.encode(), "text/csv")},
    )
    assert uploaded.status_code == 302
    step = client.get(uploaded["Location"])
    form = {"col_0": "email", "col_1": "first_name"}
    assert b'<select name="col_0"' in step.content
    checked = client.post(uploaded["Location"], form, follow=True)
    assert b"This person asked for their data to be erased" in checked.content
    assert b"Import 1 leads" not in checked.content  # the bad row must be fixed or skipped
    assert Lead.objects.count() == count


# --- the admin action -------------------------------------------------------------------------


def test_a_manager_erases_from_the_admin_after_confirming(world):
    lead = the_persons_whole_story(world)
    client = Client()
    client.force_login(world.users["manager"])
    url = "/admin/leads/lead/"
    ask = client.post(url, {"action": "erase_selected_leads", "_selected_action": [lead.pk]})
    assert ask.status_code == 200
    assert b"cannot be undone" in ask.content and EMAIL.encode() in ask.content
    assert not Erasure.objects.exists()
    done = client.post(
        url,
        {"action": "erase_selected_leads", "_selected_action": [lead.pk], "confirm_erasure": "yes"},
    )
    assert done.status_code == 302
    assert Erasure.objects.get().erased_by == world.users["manager"]
    assert personal_data_hits() == {}
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/")
    assert page.status_code == 200 and b'name="first_name"' not in page.content  # read-only


def test_a_marketer_has_no_erase_action(world):
    lead = world.leads["own"]
    client = Client()
    client.force_login(world.users["marketer"])
    page = client.get("/admin/leads/lead/")
    assert page.status_code == 200 and b"erase_selected_leads" not in page.content
    client.post(
        "/admin/leads/lead/",
        {"action": "erase_selected_leads", "_selected_action": [lead.pk], "confirm_erasure": "yes"},
    )
    assert not Erasure.objects.exists()
    assert Lead.objects.get(pk=lead.pk).erased_at is None


def test_the_erasure_left_the_events_append_only(erased):
    event = HandoffEvent.objects.filter(handoff__lead__erased_at__isnull=False).first()
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).update(note="back again")


def test_the_feedback_and_notifications_keep_their_shape(erased):
    feedback = ReturnFeedback.objects.get(lead__erased_at__isnull=False)
    assert (feedback.note, feedback.reply) == ("[erased]", "[erased]")
    assert feedback.reason.code == "bad-data" and feedback.dispute_status == "overturned"
    messages = Notification.objects.filter(handoff__lead=feedback.lead)
    assert messages.exists()
    assert all("erased" in m.body for m in messages)
    assert LeadStageChange.objects.filter(lead=feedback.lead).count() >= 4


def test_an_auto_promoted_person_is_erased_and_the_speed_figures_stay(world):
    from handoff.models import AutoPromotion, AutoPromotionRule

    rule = AutoPromotionRule.objects.create(name="Demo", event_kinds=["demo_request"])
    marketer = world.users["marketer"]
    now = timezone.now()
    created = post_json(
        api(marketer),
        "/api/leads/",
        {"email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE, "country": "US"},
    )
    assert created.status_code == 201, created.content
    lead = Lead.objects.get(email=EMAIL)
    recorded = post_json(
        api(marketer),
        f"/api/leads/{lead.pk}/events/",
        {
            "kind": "demo_request",
            "occurred_at": (now - dt.timedelta(seconds=20)).isoformat(),
            "payload": {"form": f"{FIRST} {LAST} wants a demo, call {PHONE}"},
        },
    )
    assert recorded.status_code == 201, recorded.content
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.auto_promotion == {"id": rule.pk, "name": "Demo"}
    assert personal_data_hits()

    call_command("erase_lead", EMAIL, "--by", "max.manager", stdout=io.StringIO())

    assert personal_data_hits() == {}
    handoff.refresh_from_db()
    assert handoff.auto_promotion == {"id": rule.pk, "name": "Demo"}
    assert handoff.signal_at is not None and handoff.signal_received_at is not None
    firing = AutoPromotion.objects.get(lead=lead)
    assert (firing.outcome, firing.handoff_id) == ("promoted", handoff.pk)
