"""Erasing a person's data on request (GDPR), across every app, in one transaction.

Used by `manage.py erase_lead EMAIL` and by the admin action on leads ("Erase the personal data
of the selected leads"), registered from config.apps: config wires every app, so the
orchestration lives here and no app imports upward. Each app scrubs its own tables
(leads.erasure.lead_erase, handoff.erasure.handoffs_erase_lead,
feedback.erasure.feedback_erase_lead); here the admin's change log is scrubbed too, and one
leads.models.Erasure row is written: the audit record, and the hashed blocklist entry that makes
every way in refuse the email from now on.

Rows are scrubbed, never deleted, so the funnel, SLA and feedback figures stay what they were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from core.roles import is_manager
from feedback.erasure import feedback_erase_lead
from handoff.erasure import handoffs_erase_lead
from handoff.models import Handoff
from integrations.erasure import webhooks_erase_lead
from leads.erasure import ERASED, PersonalData, email_hash, erasure_record, lead_erase, scrub_text
from leads.models import Erasure, Lead
from leads.services import normalise_email
from pipeline.erasure import pipeline_erase_lead


@dataclass(frozen=True)
class ErasureOutcome:
    erasure: Erasure
    created: bool  # False: this email had been erased before; nothing was done again
    lead_found: bool


def can_erase(user: Any) -> bool:
    """Erasure requests are handled by sales managers (and superusers), not by marketing."""
    return is_manager(user)


def erase_person(
    *, email: str, actor: Any = None, now: dt.datetime | None = None
) -> ErasureOutcome:
    """Erase everything the desk holds about the person with this email, and block the email.

    Idempotent: an email erased before returns its first Erasure row. An email no lead has is
    still blocked (the person asked not to be processed), with no lead id on the record.
    """
    now = now or timezone.now()
    if actor is not None and not can_erase(actor):
        raise Forbidden("Only sales managers erase personal data.")
    email = normalise_email(email)
    if not email:
        raise ValidationFailed("Give the email of the person to erase.", field="email")
    with transaction.atomic():
        done = Erasure.objects.filter(email_hash=email_hash(email)).first()
        if done is not None:
            return ErasureOutcome(erasure=done, created=False, lead_found=False)
        summary: dict[str, int] = {}
        lead_id = Lead.objects.filter(email=email).values_list("pk", flat=True).first()
        if lead_id is not None:
            # The services' lock order: the handoffs first, then the lead.
            list(Handoff.objects.select_for_update().filter(lead_id=lead_id).order_by("pk"))
            lead = Lead.objects.select_for_update().filter(pk=lead_id, email=email).first()
            if lead is None:
                raise Conflict("The lead changed while it was being erased; run it again.")
            data = PersonalData.of(lead)
            summary.update(handoffs_erase_lead(lead=lead, data=data, now=now))
            summary.update(feedback_erase_lead(lead=lead, data=data, now=now))
            summary.update(pipeline_erase_lead(lead=lead, data=data, now=now))
            summary.update(webhooks_erase_lead(lead=lead, data=data, now=now))
            summary.update(lead_erase(lead=lead, data=data, now=now))
            summary["admin.logentry"] = _scrub_admin_log(lead, data)
        try:
            with transaction.atomic():
                erasure = erasure_record(
                    email=email, lead_id=lead_id, actor=actor, summary=summary, now=now
                )
        except IntegrityError as exc:
            raise Conflict("This email is being erased by another request.") from exc
    return ErasureOutcome(erasure=erasure, created=True, lead_found=lead_id is not None)


def _scrub_admin_log(lead: Lead, data: PersonalData) -> int:
    """The admin's history names objects by their str(): a lead's is its name or email."""
    pattern = data.pattern()
    lead_type = ContentType.objects.get_for_model(Lead)
    query = Q(content_type=lead_type, object_id=str(lead.pk))
    for needle in (data.email, *data.names):
        query |= Q(object_repr__icontains=needle) | Q(change_message__icontains=needle)
    changed = 0
    for entry in LogEntry.objects.filter(query):
        is_the_lead = entry.content_type_id == lead_type.pk and entry.object_id == str(lead.pk)
        LogEntry.objects.filter(pk=entry.pk).update(
            object_repr=ERASED if is_the_lead else scrub_text(entry.object_repr, pattern),
            change_message=scrub_text(entry.change_message, pattern),
        )
        changed += 1
    return changed


# --- the admin action on leads ------------------------------------------------------------------


@admin.action(
    description="Erase the personal data of the selected leads (on request)",
    permissions=["erase"],
)
def erase_selected_leads(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Lead]) -> Any:
    """Asks for confirmation (it cannot be undone), then erases each lead like erase_lead."""
    leads = list(queryset.filter(erased_at__isnull=True).order_by("pk"))
    if request.POST.get("confirm_erasure") != "yes":
        return TemplateResponse(
            request,
            "admin/leads/lead/erase_confirmation.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Erase personal data?",
                "opts": modeladmin.model._meta,
                "leads": leads,
                "action": "erase_selected_leads",
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )
    for lead in leads:
        erase_person(email=lead.email, actor=request.user)
    modeladmin.message_user(
        request,
        f"Erased the personal data of {len(leads)} lead{'s' if len(leads) != 1 else ''}; "
        "their emails are blocked from being added again.",
        messages.SUCCESS,
    )
    return None


def register_admin_action() -> None:
    """Add the action to the leads admin (leads cannot import config)."""
    model_admin = admin.site.get_model_admin(Lead)
    actions: list[Any] = list(model_admin.actions or [])
    if erase_selected_leads not in actions:
        model_admin.actions = [*actions, erase_selected_leads]
    # What the action's permissions=["erase"] asks for.
    model_admin.has_erase_permission = lambda request: can_erase(request.user)  # type: ignore[attr-defined]
