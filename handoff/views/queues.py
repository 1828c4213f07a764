"""The queues: marketing's questions from sales, the rep's queue and accepted leads, and the
manager's queue of handoffs nobody could take."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.pages import marketing_or_manager, page_for, paginate, sales_or_manager
from core.roles import SALES, is_manager
from handoff import selectors, services, time_off
from handoff.models import Handoff
from handoff.states import Status
from handoff.views.display import rows_for

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
        {"paged": paged, "rows": rows_for(paged.rows, now=now)},
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
    context = {"paged": paged, "rows": rows_for(paged.rows, now=now), "now": now}
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
    context = {"paged": paged, "rows": rows_for(paged.rows, now=now, kind="first_touch")}
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
    rows = rows_for(paged.rows, now=now)
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
