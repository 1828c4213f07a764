"""Scoring rules are data: who may change them (API and admin), and what a change sets off."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission

from core import outbox
from leads import services, tasks
from leads.models import EngagementRule, FitRule, Lead, ScoringConfig
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.usefixtures("default_rules")


def version() -> int:
    return ScoringConfig.objects.get().version


def queued_tasks(callbacks) -> list[tuple[str, dict]]:
    """What the captured on-commit callbacks would publish (the task outbox's messages)."""
    return outbox.queued_messages(callbacks)


# --- API -------------------------------------------------------------------------------------


def test_everyone_signed_in_reads_the_rules(client_for, rep):
    response = client_for(rep).get("/api/scoring/fit-rules/")
    assert response.status_code == 200
    assert "Target industry" in {rule["name"] for rule in response.json()}


def test_a_sales_rep_cannot_change_scoring_rules_through_the_api(client_for, rep):
    api = client_for(rep)
    rule = FitRule.objects.get(name="Target industry")
    before = version()

    responses = [
        api.post(
            "/api/scoring/fit-rules/",
            {"name": "X", "field": "industry", "operator": "eq", "value": "x", "points": 5},
            format="json",
        ),
        api.patch(f"/api/scoring/fit-rules/{rule.pk}/", {"points": 99}, format="json"),
        api.delete(f"/api/scoring/fit-rules/{rule.pk}/"),
        api.patch("/api/scoring/settings/", {"mql_threshold": 1}, format="json"),
        api.patch(
            f"/api/scoring/engagement-rules/{EngagementRule.objects.first().pk}/",
            {"points": 99},
            format="json",
        ),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    rule.refresh_from_db()
    assert rule.points == 15
    assert ScoringConfig.objects.get().mql_threshold == 60
    assert version() == before


def test_an_anonymous_client_cannot_read_or_change_rules(client_for):
    anonymous = client_for(None)
    assert anonymous.get("/api/scoring/fit-rules/").status_code in (401, 403)
    assert anonymous.patch(
        "/api/scoring/settings/", {"mql_threshold": 1}, format="json"
    ).status_code in (401, 403)


def test_a_marketer_changes_a_rule_which_bumps_the_version_and_queues_the_rescore(
    client_for, marketer, django_capture_on_commit_callbacks
):
    rule = FitRule.objects.get(name="Target industry")
    before = version()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(marketer).patch(
            f"/api/scoring/fit-rules/{rule.pk}/", {"points": 25}, format="json"
        )

    assert response.status_code == 200, response.content
    assert version() == before + 1
    assert queued_tasks(callbacks) == [("leads.tasks.leads_rescore_all", {"version": before + 1})]


def test_a_rule_with_a_value_that_does_not_fit_its_operator_is_refused(client_for, marketer):
    response = client_for(marketer).post(
        "/api/scoring/fit-rules/",
        {"name": "Big", "field": "employee_band", "operator": "gte", "value": "lots", "points": 5},
        format="json",
    )
    assert response.status_code == 400
    assert "value" in response.json()["errors"]
    assert not FitRule.objects.filter(name="Big").exists()


def test_a_manager_may_change_the_threshold(client_for, manager):
    response = client_for(manager).patch(
        "/api/scoring/settings/", {"mql_threshold": 70}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["mql_threshold"] == 70


# --- the batch rescore ------------------------------------------------------------------------


def test_the_rescore_task_applies_a_rule_change_to_every_lead_in_batches():
    leads = LeadFactory.create_batch(7, industry="software", employee_band="", country="")
    services.leads_rescore_all(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert set(Lead.objects.values_list("score", flat=True)) == {15}
    rule = FitRule.objects.get(name="Target industry")
    rule.points = 40
    new_version = services.scoring_rule_save(rule=rule)

    written = services.leads_rescore_all(version=new_version, batch_size=3)

    assert written == 7
    assert set(Lead.objects.values_list("score", flat=True)) == {40}
    assert {
        lead.score_breakdown["version"]
        for lead in Lead.objects.filter(pk__in=[x.pk for x in leads])
    } == {new_version}


def test_the_celery_task_runs_the_rescore():
    LeadFactory(industry="fintech", employee_band="", country="")
    result = tasks.leads_rescore_all.apply(kwargs={"version": version()})
    assert result.get() == 1
    assert Lead.objects.get().score == 15


def test_a_rescore_for_an_old_version_stops_because_a_newer_one_is_queued():
    LeadFactory(industry="fintech")
    old = version()
    services.scoring_rules_changed()
    assert services.leads_rescore_all(version=old) == 0


def test_a_second_rescore_writes_only_what_changed():
    LeadFactory.create_batch(3)
    services.leads_rescore_all()
    assert services.leads_rescore_all() == 0


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def staff_rep(db):
    """A sales rep who is staff and was even given the model permissions by mistake."""
    user = UserFactory(username="sid.staff-rep", role="Sales", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="leads",
            content_type__model__in=["fitrule", "engagementrule", "scoringconfig"],
        )
    )
    return user


def test_a_sales_user_cannot_edit_scoring_rules_in_the_admin(client, staff_rep):
    client.force_login(staff_rep)
    rule = FitRule.objects.get(name="Target industry")
    url = f"/admin/leads/fitrule/{rule.pk}/change/"

    page = client.get(url)
    post = client.post(
        url,
        {"name": rule.name, "field": rule.field, "operator": rule.operator, "value": '["x"]',
         "points": 99, "order": 0, "active": "on"},
    )  # fmt: skip
    add = client.get("/admin/leads/fitrule/add/")
    delete = client.post(f"/admin/leads/fitrule/{rule.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200  # may look, since scoring is transparent...
    assert b'name="points"' not in page.content  # ...but gets no form to change it
    assert post.status_code == 403
    assert add.status_code == 403
    assert delete.status_code == 403
    rule.refresh_from_db()
    assert rule.points == 15


def test_a_marketer_saving_a_rule_in_the_admin_rescores_every_lead(
    client, marketer, django_capture_on_commit_callbacks
):
    marketer.is_staff = True
    marketer.save()
    client.force_login(marketer)
    rule = FitRule.objects.get(name="Target industry")
    before = version()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            f"/admin/leads/fitrule/{rule.pk}/change/",
            {"name": rule.name, "field": rule.field, "operator": "in",
             "value": '["software", "media"]', "points": 18, "order": 0, "active": "on"},
        )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert (rule.points, rule.value) == (18, ["software", "media"])
    assert version() == before + 1
    assert queued_tasks(callbacks) == [("leads.tasks.leads_rescore_all", {"version": before + 1})]


def test_the_admin_refuses_a_rule_value_that_does_not_fit_its_operator(client, marketer):
    marketer.is_staff = True
    marketer.save()
    client.force_login(marketer)
    response = client.post(
        "/admin/leads/fitrule/add/",
        {"name": "Bad", "field": "country", "operator": "gte", "value": '"US"', "points": 5,
         "order": 0, "active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert b"only compare employee band or seniority" in response.content
    assert not FitRule.objects.filter(name="Bad").exists()
