"""Undoing an import restores from the audit trail: the rows the import wrote (tagged with its
id) say which leads it created and what it changed, the rows before them what to put back."""

from __future__ import annotations

import pytest
from django.db import transaction

from leads import services
from leads.imports import services as imports
from leads.models import ImportStatus, Lead, LeadImportChange
from tests.factories import CampaignFactory, LeadFactory, UserFactory
from tests.leads.test_import_page import HUBSPOT, _imported

pytestmark = pytest.mark.usefixtures("default_rules")

GOOD_ROW = "103,Cy,Ng,cy@acme.example,,Acme,CTO,lead,New,Referrals,Sweden,software,40,2026\n"


@pytest.fixture
def page(client, marketer):
    client.force_login(marketer)
    return client


def _audited(lead: Lead) -> dict[str, object]:
    return {
        name: getattr(Lead.objects.get(pk=lead.pk), name)
        for name in (
            "first_name",
            "last_name",
            "phone",
            "title",
            "seniority",
            "company",
            "domain",
            "industry",
            "employee_band",
            "country",
            "source",
            "campaign_id",
            "owner_id",
        )
    }


def test_an_update_then_undo_restores_the_exact_old_values_from_the_audit_rows(page, marketer):
    campaign = CampaignFactory()
    known = LeadFactory(
        email="hana@acme.example",
        first_name="Hannah",
        last_name="Old",
        phone="",
        company="Old Co",
        title="Engineer",
        country="FR",
        industry="retail",
        employee_band="11-50",
        source="webinar",
        campaign=campaign,
    )
    before = _audited(known)
    imp = _imported(page, HUBSPOT + GOOD_ROW)
    assert (imp.created_count, imp.updated_count) == (1, 1)
    assert _audited(known) != before

    # The import's audit rows name it and the marketer who ran it.
    tagged = Lead.history.filter(history_change_reason=f"import {imp.pk}")
    assert sorted(tagged.values_list("history_type", flat=True)) == ["+", "~"]
    assert set(tagged.values_list("history_user", flat=True)) == {marketer.pk}
    # Undo reads the audit trail, not a copy kept by the import.
    LeadImportChange.objects.filter(lead_import=imp).update(before={})

    imports.lead_import_undo(lead_import=imp, actor=marketer)

    assert _audited(known) == before
    assert list(Lead.objects.values_list("email", flat=True)) == ["hana@acme.example"]
    undo_rows = Lead.history.filter(history_change_reason=f"undo import {imp.pk}")
    assert sorted(undo_rows.values_list("history_type", flat=True)) == ["-", "~"]
    assert set(undo_rows.values_list("history_user", flat=True)) == {marketer.pk}
    imp.refresh_from_db()
    assert imp.status == ImportStatus.UNDONE


def test_undo_keeps_a_value_someone_changed_after_the_import(page, marketer):
    known = LeadFactory(email="hana@acme.example", company="Old Co", title="Engineer")
    imp = _imported(page, HUBSPOT)
    manager = UserFactory(username="max.manager", is_staff=True, is_superuser=True)
    services.lead_update(lead=known, data={"company": "Fixed by hand"}, actor=manager)

    imports.lead_import_undo(lead_import=imp, actor=marketer)

    lead = Lead.objects.get(pk=known.pk)
    assert (lead.company, lead.title) == ("Fixed by hand", "Engineer")


def test_undo_is_refused_with_a_clear_message_when_a_lead_was_promoted_since(page, marketer):
    imp = _imported(page, HUBSPOT + GOOD_ROW)
    with transaction.atomic():
        lead = Lead.objects.get(email="cy@acme.example")
        services.lead_change_stage(lead=lead, to_stage="mql", actor=marketer, reason="promoted")

    with pytest.raises(imports.Conflict) as refused:
        imports.lead_import_undo(lead_import=imp, actor=marketer)

    assert refused.value.message == (
        "This import cannot be undone: some of its leads have been promoted to sales since "
        "(cy@acme.example). Nothing was undone."
    )
    assert Lead.objects.count() == 2
    imp.refresh_from_db()
    assert imp.status == ImportStatus.DONE
