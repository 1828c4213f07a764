"""The managers' admin for reasons and returns."""

from __future__ import annotations

import pytest
from django.urls import reverse

from feedback import services
from feedback.models import RejectionReason, ReturnFeedback
from tests.factories import ReturnFeedbackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.mark.parametrize("rows", [3, 30])
def test_the_returns_changelist_is_a_constant_number_of_queries(
    rows, admin_client_for, manager, django_assert_max_num_queries
):
    for _ in range(rows):
        ReturnFeedbackFactory()
    client = admin_client_for(manager)
    url = reverse("admin:feedback_returnfeedback_changelist")
    with django_assert_max_num_queries(14):
        response = client.get(url, {"acknowledged": "no", "reason__category": "fit"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows


def test_returns_are_searchable_by_lead_email_and_company(admin_client_for, manager):
    wanted = ReturnFeedbackFactory(handoff__lead__company="Zebra Logistics")
    ReturnFeedbackFactory(handoff__lead__company="Acme")
    client = admin_client_for(manager)
    url = reverse("admin:feedback_returnfeedback_changelist")
    assert list(client.get(url, {"q": "zebra"}).context["cl"].result_list) == [wanted]
    assert list(client.get(url, {"q": wanted.lead.email}).context["cl"].result_list) == [wanted]


def test_a_manager_overturns_a_dispute_from_the_admin(admin_client_for, manager, marketer):
    feedback = ReturnFeedbackFactory()
    services.feedback_acknowledge(
        feedback=feedback, actor=marketer, reply="Wrong call", follow_up="dispute"
    )
    response = admin_client_for(manager).post(
        reverse("admin:feedback_returnfeedback_changelist"),
        {"action": "overturn_disputes", "_selected_action": [feedback.pk]},
        follow=True,
    )
    assert response.status_code == 200
    feedback.refresh_from_db()
    assert feedback.dispute_status == "overturned"
    assert feedback.lead.stage == "lead"


def test_reasons_are_switched_off_and_reordered_from_the_list(admin_client_for, manager):
    reasons = list(RejectionReason.objects.order_by("display_order"))
    data = {
        "form-TOTAL_FORMS": str(len(reasons)),
        "form-INITIAL_FORMS": str(len(reasons)),
        "_save": "Save",
    }
    for i, reason in enumerate(reasons):
        data[f"form-{i}-id"] = str(reason.pk)
        data[f"form-{i}-active"] = "on" if reason.code != "spam" else ""
        data[f"form-{i}-display_order"] = str(
            5 if reason.code == "not-ready" else reason.display_order
        )
    response = admin_client_for(manager).post(
        reverse("admin:feedback_rejectionreason_changelist"), data
    )
    assert response.status_code == 302, response.content[:2000]
    assert not RejectionReason.objects.get(code="spam").active
    assert RejectionReason.objects.order_by("display_order").first().code == "not-ready"


def test_a_reason_in_use_cannot_be_deleted_and_its_code_is_fixed(admin_client_for, manager):
    feedback = ReturnFeedbackFactory(reason=RejectionReason.objects.get(code="not-ready"))
    client = admin_client_for(manager)
    delete = reverse("admin:feedback_rejectionreason_delete", args=[feedback.reason.pk])
    assert client.get(delete).status_code == 403
    change = client.get(reverse("admin:feedback_rejectionreason_change", args=[feedback.reason.pk]))
    assert "code" not in change.context["adminform"].form.fields


def test_returns_cannot_be_added_by_hand(admin_client_for, manager):
    response = admin_client_for(manager).get(reverse("admin:feedback_returnfeedback_add"))
    assert response.status_code == 403
    assert ReturnFeedback.objects.count() == 0
