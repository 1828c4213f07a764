"""The server-rendered pages for marketers (leads, promotion, questions from sales), sales reps
(my queue, accepted leads, the handoff packet and its actions) and managers (the unassigned
queue, reassignment).

Lead pages live here, not in leads/, because they show handoff data (apps depend one way:
feedback -> handoff -> leads). Views are thin: they read through selectors, write through one
service call each (handoff.ui.perform maps domain errors to fields and messages), and redirect
after a successful POST. The return form and a lead's earlier returns belong to the feedback
app: the project templates pull them in with its template tags (feedback_ui), so nothing here
imports feedback.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from handoff import selectors, services, sla, time_off
from handoff.forms import (
    AnswerForm,
    AskForm,
    FirstTouchForm,
    PromoteForm,
    QualifyForm,
    ReassignForm,
    SeenForm,
)
from handoff.models import AutoPromotion, Handoff, Team
from handoff.states import ALLOWED_MOVES, Status
from handoff.timezones import local_words
from handoff.ui import (
    SortedIds,
    check_seen,
    filled,
    form_invalid_message,
    marketing_or_manager,
    page_for,
    page_slice,
    paginate,
    perform,
    safe_next,
    sales_or_manager,
    seen_token,
)
from leads import selectors as lead_selectors
from leads.errors import ValidationFailed
from leads.filters import LeadFilter
from leads.lifecycle import READY_RE_ENGAGED
from leads.models import Campaign, Lead, Source, Stage
from leads.roles import SALES, is_manager, is_marketer, marketer_q

# --- clocks as the pages show them ----------------------------------------------------------------


@dataclass(frozen=True)
class ClockView:
    """One SLA clock ready for a template: its colour, its label, and what the ticking script
    needs (business seconds left, and whether business time is passing right now)."""

    kind: str  # "accept" or "first_touch"
    state: str  # running / paused / met / missed / none
    tone: str  # ok / at-risk / late / paused / met / missed / none
    label: str  # business time: "3h 20m left", "late by 33 business days"
    wall: str  # the wall time beside it, or "" ("7 weeks")
    hours: bool  # the label is in hours and minutes: the ticking script may count it down
    business_seconds: float | None
    ticking: bool
    due_local: dt.datetime | None
    zone: str

    @property
    def is_live(self) -> bool:
        return self.state in ("running", "paused")

    @property
    def text(self) -> str:
        return f"{self.label} ({self.wall})" if self.wall else self.label


def _zone(handoff: Handoff) -> str:
    snap = handoff.policy_snapshot or {}
    if snap.get("timezone"):
        return str(snap["timezone"])
    calendar = handoff.calendar or (handoff.team.calendar if handoff.team else None)
    return calendar.timezone if calendar is not None else "UTC"


def _local(moment: dt.datetime | None, zone: str) -> dt.datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        return moment


def clock_view(handoff: Handoff, *, now: dt.datetime, kind: str = "accept") -> ClockView:
    if kind == "accept":
        clock = selectors.accept_clock(handoff, now=now)
        risk_at = handoff.at_risk_at
    else:
        clock = selectors.first_touch_clock(handoff, now=now)
        risk_at = handoff.first_touch_at_risk_at
    zone = _zone(handoff)
    ticking = False
    if clock.state == "running":
        ticking = sla.is_business_time(now, selectors.handoff_calendar(handoff))
        if clock.late:
            tone = "late"
        elif risk_at is not None and now >= risk_at:
            tone = "at-risk"
        else:
            tone = "ok"
    elif clock.state == "paused":
        tone = "paused"
    else:
        tone = clock.state
    minutes = clock.business_minutes_left
    words = selectors.clock_words(clock)
    return ClockView(
        kind=kind,
        state=clock.state,
        tone=tone,
        label=words.main,
        wall=words.wall,
        hours=words.hours,
        business_seconds=round(minutes * 60, 1) if minutes is not None else None,
        ticking=ticking,
        due_local=_local(clock.due_at, zone),
        zone=zone,
    )


@dataclass
class Row:
    handoff: Handoff
    clock: ClockView
    seen: str
    why: list[str] | None = None  # the manager's queue: why nobody has it
    next_rep: dict[str, Any] | None = None  # ... and what "Next in rotation" would do now


def _rows(handoffs: Any, *, now: dt.datetime, kind: str = "accept") -> list[Row]:
    return [Row(h, clock_view(h, now=now, kind=kind), seen_token(h)) for h in handoffs]


# --- leads (marketing) ----------------------------------------------------------------------------

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
PROMOTABLE = {Stage.LEAD, Stage.MQL, Stage.RECYCLED}


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
            "promotable": PROMOTABLE,
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


def _breakdown(data: dict[str, Any] | None) -> dict[str, Any]:
    """A score breakdown grouped for display: fit, engagement, intent, each with its items."""
    data = data or {}
    groups: dict[str, list[dict[str, Any]]] = {"fit": [], "engagement": [], "intent": []}
    for item in data.get("items") or []:
        groups.setdefault(str(item.get("category") or "other"), []).append(item)
    return {
        "total": data.get("total"),
        "threshold": data.get("threshold"),
        "parts": [
            {"name": name.capitalize(), "points": data.get(name), "items": items}
            for name, items in groups.items()
            if items or data.get(name)
        ],
        "scored_at": data.get("scored_at"),
    }


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
            "breakdown": _breakdown(lead.score_breakdown),
            "events": events,
            "events_total": events_qs.count() if len(events) == 50 else len(events),
            "stage_changes": lead.stage_changes.select_related("actor").order_by("-at", "-id"),
            "handoffs": handoffs,
            "open_handoff": open_handoff,
            "can_promote": can_promote,
            "promotion_block": services.lead_promotion_block(lead=lead, now=now)
            if can_promote
            else None,
        },
    )


def _preview(lead: Lead, team: Team | None, now: dt.datetime) -> dict[str, Any]:
    preview = services.promotion_preview(lead=lead, team=team, now=now)
    zone = (preview.get("calendar") or {}).get("timezone") or "UTC"
    preview["due_local"] = _local(preview.get("due_at"), zone)
    preview["at_risk_local"] = _local(preview.get("at_risk_at"), zone)
    preview["zone"] = zone
    rep = preview.get("rep")
    if rep:
        user = get_user_model().objects.filter(pk=rep["id"]).first()
        preview["rep_name"] = _who(user) if user is not None else rep["username"]
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


# --- questions from sales (marketing) -------------------------------------------------------------


def _questions_for(user: Any) -> QuerySet[Handoff]:
    """Waiting handoffs this user can answer: the ones they promoted or whose lead they own (the
    rule of handoff.services.handoff_provide_info); a manager answers any. Most urgent first."""
    qs = selectors.handoff_list(user=user).filter(status=Status.WAITING)
    if not is_manager(user):
        qs = qs.filter(Q(promoted_by=user) | Q(lead__owner=user))
    # Most urgent first: the least accept time the rep had left when they asked (the clock
    # is paused with exactly that left), then the oldest question.
    return qs.order_by(F("remaining_business_minutes").asc(nulls_last=True), "paused_at", "id")


@page_for(marketing_or_manager, "marketing and sales managers")
@require_GET
def questions(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    paged = paginate(request, _questions_for(request.user))
    return render(
        request,
        "handoff/questions.html",
        {"paged": paged, "rows": _rows(paged.rows, now=now)},
    )


def _me(request: HttpRequest) -> Any:
    return request.user


# --- the rep's lists ------------------------------------------------------------------------------


@page_for(sales_or_manager, "sales reps and managers")
@require_GET
def my_queue(request: HttpRequest) -> HttpResponse:
    """Pending and waiting handoffs assigned to me, nearest deadline first (paused ones, which
    have no deadline while they wait, after them)."""
    now = timezone.now()
    qs = (
        selectors.handoff_list(user=request.user)
        .filter(assigned_to=_me(request), status__in=[Status.PENDING, Status.WAITING])
        .order_by(F("due_at").asc(nulls_last=True), "paused_at", "id")
    )
    paged = paginate(request, qs)
    context = {"paged": paged, "rows": _rows(paged.rows, now=now), "now": now}
    htmx = getattr(request, "htmx", None)
    # The 5-second refresh swaps the rows only; an empty queue's refresh takes the whole page
    # (it picks #queue-main out of it), so its first handoff appears without a reload.
    if htmx and htmx.target != "queue-main":
        return render(request, "handoff/_queue_rows.html", context)
    return render(request, "handoff/my_queue.html", context)


@page_for(sales_or_manager, "sales reps and managers")
@require_GET
def my_accepted(request: HttpRequest) -> HttpResponse:
    """Accepted handoffs assigned to me: not yet touched first, by first-touch deadline."""
    now = timezone.now()
    qs = (
        selectors.handoff_list(user=request.user)
        .filter(assigned_to=_me(request), status=Status.ACCEPTED)
        .order_by(
            F("first_touch_at").asc(nulls_first=True),
            F("first_touch_due_at").asc(nulls_last=True),
            "id",
        )
    )
    paged = paginate(request, qs)
    context = {"paged": paged, "rows": _rows(paged.rows, now=now, kind="first_touch")}
    if getattr(request, "htmx", False):
        return render(request, "handoff/_accepted_rows.html", context)
    return render(request, "handoff/accepted.html", context)


@page_for(is_manager, "sales managers")
@require_GET
def manager_queue(request: HttpRequest) -> HttpResponse:
    """Handoffs nobody could take: a manager gives each to a rep (or takes it)."""
    now = timezone.now()
    qs = (
        selectors.manager_queue()
        .select_related("calendar", "team__calendar", "promoted_by")
        .order_by(F("due_at").asc(nulls_last=True), "id")
    )
    paged = paginate(request, qs)
    reps = list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=SALES)
        .order_by("first_name", "username")
    )
    rows = _rows(paged.rows, now=now)
    reasons = selectors.unassigned_reasons([row.handoff for row in rows])
    # What "Next in rotation" would do, once per team and off-hours rule on the page.
    previews: dict[tuple[int | None, bool], dict[str, Any]] = {}
    for row in rows:
        h = row.handoff
        row.why = reasons.get(h.pk)
        key = (h.team_id, bool((h.policy_snapshot or {}).get("skip_reps_off_hours")))
        if key not in previews:
            previews[key] = services.reassign_preview(handoff=h, now=now)
        row.next_rep = previews[key]
    return render(
        request,
        "handoff/manager_queue.html",
        {
            "paged": paged,
            "rows": rows,
            "reps": reps,
            "off_today": time_off.reps_off_on(timezone.localdate(now)),
        },
    )


# --- one handoff ----------------------------------------------------------------------------------


def visible_handoff(request: HttpRequest, pk: int) -> Handoff:
    """The handoff if this user may see it (a rep: only their own), else 404."""
    handoff = selectors.handoff_get_visible(user=request.user, pk=pk)
    if handoff is None:
        raise Http404("No such handoff among the ones you can see.")
    return handoff


def handoff_page_context(
    request: HttpRequest, handoff: Handoff, *, now: dt.datetime | None = None, **forms: Any
) -> dict[str, Any]:
    """Everything the handoff page shows. `forms` replaces a fresh form by a bound one with its
    errors (ask_form, answer_form, first_touch_form, qualify_form, reassign_form, return_form)."""
    now = now or timezone.now()
    user = request.user
    moves = ALLOWED_MOVES.get(handoff.status, frozenset())
    # The services' own permission predicates decide which actions the page offers.
    can_work = services._can_work(handoff, user)
    can_answer = handoff.status == Status.WAITING and services._can_inform(handoff, user)
    seen = seen_token(handoff)
    initial = {"seen": seen}
    context: dict[str, Any] = {
        "handoff": handoff,
        "lead": handoff.lead,
        "seen": seen,
        "clock": clock_view(handoff, now=now),
        "first_touch": clock_view(handoff, now=now, kind="first_touch"),
        "breakdown": _breakdown(handoff.score_breakdown),
        "events": list(handoff.events.all()),
        "policy": handoff.policy_snapshot or {},
        "routing": handoff.routing or {},
        "zone": _zone(handoff),
        "can_accept": can_work and Status.ACCEPTED in moves,
        "can_ask": can_work and Status.WAITING in moves,
        "can_return": can_work and Status.RETURNED in moves,
        "can_qualify": can_work and Status.QUALIFIED in moves,
        "can_touch": can_work
        and handoff.status == Status.ACCEPTED
        and handoff.first_touch_at is None,
        "can_reassign": is_manager(user) and Status.REASSIGNED in moves,
        "can_answer": can_answer,
        "is_marketer": is_marketer(user),
        "ask_form": forms.get("ask_form") or AskForm(initial=initial),
        "answer_form": forms.get("answer_form") or AnswerForm(initial=initial),
        "first_touch_form": forms.get("first_touch_form") or FirstTouchForm(initial=initial),
        "qualify_form": forms.get("qualify_form") or QualifyForm(initial=initial),
        "reassign_form": forms.get("reassign_form") or ReassignForm(initial=initial),
        "next_attempts": list(handoff.next_attempts.select_related("assigned_to")),
        "chain": selectors.attempt_chain(handoff),
    }
    if "return_form" in forms:
        context["return_form"] = forms["return_form"]
    return context


def render_handoff_page(
    request: HttpRequest, handoff: Handoff, *, status: int = 200, **forms: Any
) -> HttpResponse:
    return render(
        request,
        "handoff/handoff_detail.html",
        handoff_page_context(request, handoff, **forms),
        status=status,
    )


@login_required
@require_GET
def handoff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_handoff_page(request, visible_handoff(request, pk))


def _detail_url(pk: int) -> str:
    return reverse("handoff:handoff-detail", kwargs={"pk": pk})


def _who(user: Any) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else "nobody"


def _act(
    request: HttpRequest,
    handoff: Handoff,
    form: SeenForm,
    service: Any,
    *,
    errors_on_form: bool = True,
    **kwargs: Any,
) -> Any:
    """Check the version the page showed, then call the service, mapping errors once (onto the
    form's fields, or as messages when the form has no fields to show them)."""

    def call() -> Any:
        if "seen" in form.errors:
            raise ValidationFailed("The page sent an unreadable version; reload it.")
        check_seen(handoff, form.cleaned_data.get("seen"))
        return service(handoff=handoff, actor=request.user, **kwargs)

    return perform(request, call, form=form if errors_on_form else None, handoff_id=handoff.pk)


@login_required
@require_POST
def handoff_accept(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = visible_handoff(request, pk)
    form = SeenForm(request.POST)
    form.is_valid()
    done = _act(request, handoff, form, services.handoff_accept, errors_on_form=False)
    if done is not None:
        touch = clock_view(done, now=timezone.now(), kind="first_touch")
        due = f" First touch due {local_words(touch.due_local)}." if touch.due_local else ""
        messages.success(request, f"Accepted: {done.lead} is yours now.{due}")
        return redirect(_detail_url(pk))
    return redirect(safe_next(request, _detail_url(pk)))


@login_required
@require_POST
def handoff_ask(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = visible_handoff(request, pk)
    form = AskForm(request.POST)
    if form.is_valid():
        done = _act(
            request,
            handoff,
            form,
            services.handoff_request_info,
            question=form.cleaned_data["question"],
        )
        if done is not None:
            messages.success(
                request,
                "Asked marketing. Your clock is paused with "
                f"{clock_view(done, now=timezone.now()).label.removeprefix('paused, ')}; "
                "it resumes when they answer.",
            )
            return redirect(_detail_url(pk))
    if not form.errors:  # a conflict or permission message is already queued
        return redirect(_detail_url(pk))
    form_invalid_message(request, "Your question")
    return render_handoff_page(request, visible_handoff(request, pk), status=400, ask_form=form)


@login_required
@require_POST
def handoff_answer(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = visible_handoff(request, pk)
    form = AnswerForm(request.POST)
    if form.is_valid():
        done = _act(
            request,
            handoff,
            form,
            services.handoff_provide_info,
            answer=form.cleaned_data["answer"],
        )
        if done is not None:
            clock = clock_view(done, now=timezone.now())
            messages.success(
                request,
                f"Answer sent to {_who(done.assigned_to)}: their clock is running again "
                f"({clock.text}).",
            )
            return redirect(safe_next(request, _detail_url(pk)))
    if not form.errors:
        return redirect(safe_next(request, _detail_url(pk)))
    form_invalid_message(request, "Your answer")
    return render_handoff_page(request, visible_handoff(request, pk), status=400, answer_form=form)


@login_required
@require_POST
def handoff_first_touch(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = visible_handoff(request, pk)
    form = FirstTouchForm(request.POST)
    if form.is_valid():
        done = _act(
            request,
            handoff,
            form,
            services.handoff_log_first_touch,
            channel=form.cleaned_data["channel"],
            note=form.cleaned_data["note"],
        )
        if done is not None:
            messages.success(
                request, f"First touch logged ({done.first_touch_channel}) for {done.lead}."
            )
            return redirect(safe_next(request, _detail_url(pk)))
    if not form.errors:
        return redirect(safe_next(request, _detail_url(pk)))
    form_invalid_message(request, "The first touch")
    return render_handoff_page(
        request, visible_handoff(request, pk), status=400, first_touch_form=form
    )


@login_required
@require_POST
def handoff_qualify(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = visible_handoff(request, pk)
    form = QualifyForm(request.POST)
    if form.is_valid():
        done = _act(
            request,
            handoff,
            form,
            services.handoff_qualify,
            bant=form.bant(),
            note=form.cleaned_data["note"],
        )
        if done is not None:
            messages.success(request, f"Qualified: {done.lead} is a sales-qualified lead (SQL).")
            return redirect("handoff:my-accepted")
    if not form.errors:
        return redirect(_detail_url(pk))
    form_invalid_message(request, "The qualification")
    return render_handoff_page(request, visible_handoff(request, pk), status=400, qualify_form=form)


@login_required
@require_POST
def handoff_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = visible_handoff(request, pk)
    form = ReassignForm(request.POST)
    if form.is_valid():
        new = _act(
            request,
            handoff,
            form,
            services.handoff_reassign,
            to_rep=form.cleaned_data["to_rep"],
            reason=form.cleaned_data["reason"],
        )
        if new is not None:
            if new.assigned_to is not None:
                messages.success(
                    request,
                    f"Reassigned {new.lead} to {_who(new.assigned_to)} (attempt {new.attempt}).",
                )
            else:
                messages.warning(
                    request,
                    f"Nobody in {new.team} can take {new.lead} now: attempt {new.attempt} waits "
                    "in the manager's queue.",
                )
            return redirect(safe_next(request, _detail_url(new.pk)))
    if not form.errors:
        return redirect(safe_next(request, _detail_url(pk)))
    form_invalid_message(request, "The reassignment")
    return render_handoff_page(
        request, visible_handoff(request, pk), status=400, reassign_form=form
    )
