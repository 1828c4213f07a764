"""The marketer's lead pages: the lead list (filters, search, sorts), a lead's page with its
handoffs, and "Promote to sales" with its live preview.

Lead pages live in handoff, not in leads/, because they show handoff data (apps depend one way:
feedback -> handoff -> leads)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Case, F, OuterRef, QuerySet, Subquery, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.pages import (
    SortedIds,
    filled,
    marketing_or_manager,
    page_for,
    page_slice,
    paginate,
    perform,
)
from core.roles import marketer_q
from handoff import selectors, services
from handoff.forms import PromoteForm
from handoff.models import AutoPromotion, Handoff, Team
from handoff.states import Status
from handoff.timezones import local_words
from handoff.views.display import clock_view, local_time, score_breakdown, who
from leads import selectors as lead_selectors
from leads.filters import LeadFilter
from leads.lifecycle import READY_RE_ENGAGED
from leads.models import PROMOTABLE_STAGES, Campaign, Lead, Source, Stage

LEAD_SORTS = {
    # Ready first; among them, re-engaged leads (back from a return with new intent) first.
    "ready": (
        "-ready_for_sales",
        Case(When(ready_reason=READY_RE_ENGAGED, then=Value(0)), default=Value(1)),
        "-score",
        "-id",
    ),
    "score": ("-score", "-id"),
    "newest": ("-created_at", "-id"),
    "engaged": (F("last_engaged_at").desc(nulls_last=True), "-id"),
}


def _search(qs: QuerySet[Lead], text: str) -> QuerySet[Lead]:
    # PostgreSQL text cannot hold NUL: a pasted one would be a 500, not a search.
    text = text.replace("\x00", "").strip()
    if not text:
        return qs
    # Names, email, company and domain in one indexed column (Lead.search_text).
    return qs.filter(search_text__icontains=text)


@page_for(marketing_or_manager, "marketing and sales managers")
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    """Every lead, "ready for sales" first then by score; filters shared with the API."""
    base = lead_selectors.lead_list(user=request.user)
    lead_filter = LeadFilter(filled(request.GET), queryset=base)
    leads = lead_filter.qs if lead_filter.is_valid() else base.none()
    text = request.GET.get("q", "").replace("\x00", "").strip()
    leads = _search(leads, text)
    sort = request.GET.get("sort", "ready")
    if sort not in LEAD_SORTS:
        sort = "ready"
    ordered = leads.select_related(None).order_by(*LEAD_SORTS[sort])
    rows = SortedIds(
        ordered,
        lambda ids: base.filter(pk__in=ids).annotate(auto_waiting=_auto_waiting()),
        # A search reads every lead (no index serves `%text%`): count in the same scan.
        window=page_slice(request) if text else None,
    )
    paged = paginate(request, rows)
    return render(
        request,
        "handoff/lead_list.html",
        {
            "paged": paged,
            "filter_errors": lead_filter.errors,
            "params": request.GET,
            "stages": Stage.choices,
            "sources": Source.choices,
            "campaigns": list(Campaign.objects.order_by("name").values_list("id", "name")),
            "owners": list(
                get_user_model()
                .objects.filter(marketer_q(), is_active=True)
                .distinct()
                .order_by("first_name", "username")
            ),
            "sort": sort,
            "sorts": [
                ("ready", "Ready for sales first"),
                ("score", "Highest score"),
                ("engaged", "Recently engaged"),
                ("newest", "Newest"),
            ],
            "promotable": PROMOTABLE_STAGES,
            "filtered": any(
                request.GET.get(k)
                for k in (
                    "q",
                    "stage",
                    "source",
                    "campaign",
                    "owner",
                    "score_min",
                    "score_max",
                    "lead_import",
                )
            )
            or request.GET.get("ready_for_sales"),
        },
    )


def _auto_waiting() -> Subquery:
    """A lead's latest automatic promotion that is waiting: "held" (for the team's working
    hours) or "over_ceiling" (the rule's hourly ceiling: a marketer decides), this week."""
    since = timezone.now() - dt.timedelta(days=7)
    return Subquery(
        AutoPromotion.objects.filter(
            lead=OuterRef("pk"),
            outcome__in=[AutoPromotion.Outcome.HELD, AutoPromotion.Outcome.OVER_CEILING],
            created_at__gte=since,
        )
        .order_by("-created_at", "-id")
        .values("outcome")[:1]
    )


def _visible_lead(request: HttpRequest, pk: int) -> Lead:
    return get_object_or_404(
        lead_selectors.leads_visible_to(request.user).select_related("campaign", "owner"), pk=pk
    )


@login_required
@require_GET
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    now = timezone.now()
    lead = _visible_lead(request, pk)
    can_promote = marketing_or_manager(request.user)
    events_qs = lead_selectors.lead_events(lead=lead)
    events = list(events_qs[:50])
    handoffs = list(
        Handoff.objects.filter(lead=lead)
        .select_related("assigned_to", "team", "promoted_by")
        .order_by("-created_at", "-id")
    )
    open_handoff = next((h for h in handoffs if h.is_open), None)
    endings = selectors.reassignment_endings(
        [h.pk for h in handoffs if h.status == Status.REASSIGNED]
    )
    for h in handoffs:
        h.ending = endings.get(h.pk)  # type: ignore[attr-defined]
    return render(
        request,
        "handoff/lead_detail.html",
        {
            "lead": lead,
            "breakdown": score_breakdown(lead.score_breakdown),
            "events": events,
            "events_total": events_qs.count() if len(events) == 50 else len(events),
            "stage_changes": lead.stage_changes.select_related("actor").order_by("-at", "-id"),
            "handoffs": handoffs,
            "open_handoff": open_handoff,
            "can_promote": can_promote,
            "promotion_block": selectors.lead_promotion_block(lead=lead, now=now)
            if can_promote
            else None,
        },
    )


def _preview(lead: Lead, team: Team | None, now: dt.datetime) -> dict[str, Any]:
    preview = selectors.promotion_preview(lead=lead, team=team, now=now)
    zone = (preview.get("calendar") or {}).get("timezone") or "UTC"
    preview["due_local"] = local_time(preview.get("due_at"), zone)
    preview["at_risk_local"] = local_time(preview.get("at_risk_at"), zone)
    preview["zone"] = zone
    rep = preview.get("rep")
    if rep:
        user = get_user_model().objects.filter(pk=rep["id"]).first()
        preview["rep_name"] = who(user) if user is not None else rep["username"]
    return preview


@page_for(marketing_or_manager, "marketing and sales managers")
def lead_promote(request: HttpRequest, pk: int) -> HttpResponse:
    """Promote to sales: a context note, an optional team, and a live preview of the team, rep,
    policy and deadline the handoff would get; refused leads say why instead."""
    now = timezone.now()
    lead = _visible_lead(request, pk)
    form = PromoteForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            handoff = perform(
                request,
                lambda: services.handoff_promote(
                    lead=lead,
                    actor=request.user,
                    note=form.cleaned_data["note"],
                    team=form.cleaned_data["team"],
                    now=now,
                ),
                form=form,
            )
            if handoff is not None:
                who = handoff.assigned_to
                clock = clock_view(handoff, now=now)
                due = local_words(clock.due_local) if clock.due_local else "-"
                if who is not None:
                    messages.success(
                        request,
                        f"Promoted to sales: {lead} went to {who.get_full_name() or who} "
                        f"({handoff.team}); they must accept or return it by {due}.",
                    )
                else:
                    messages.warning(
                        request,
                        f"Promoted to sales: nobody in {handoff.team} could take {lead} now, so "
                        f"it waits in the manager's queue (deadline {due}).",
                    )
                return redirect("handoff:lead-detail", pk=lead.pk)
        status = 400
        # The lead may have been fetched before another promotion landed: read it again.
        lead = _visible_lead(request, pk)
    team = form.cleaned_data.get("team") if form.is_bound and form.is_valid() else None
    return render(
        request,
        "handoff/lead_promote.html",
        {"lead": lead, "form": form, "preview": _preview(lead, team, now)},
        status=status,
    )


@page_for(marketing_or_manager, "marketing and sales managers")
@require_GET
def lead_promote_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview fragment alone, for the team picker (HTMX) and its 30-second refresh."""
    lead = _visible_lead(request, pk)
    team = None
    raw = request.GET.get("team", "")
    if raw.isdigit():
        team = Team.objects.filter(pk=int(raw), active=True).first()
    return render(
        request,
        "handoff/_promotion_preview.html",
        {"lead": lead, "preview": _preview(lead, team, timezone.now())},
    )
