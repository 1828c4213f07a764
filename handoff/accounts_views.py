"""The account pages: the list of accounts, and one account (the shared view of a company):
its leads, open and past handoffs, owner rep and domain aliases, as far as the user may see."""

from __future__ import annotations

from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.pages import page_for, paginate
from core.roles import is_manager, is_marketer, is_rep
from core.types import Visitor, actor_of
from handoff.accounts_api import account_detail_rows
from handoff.states import OPEN_STATUSES
from leads.accounts import accounts_visible_to


def _anyone_working(user: Visitor) -> bool:
    return is_marketer(user) or is_manager(user) or is_rep(user)


@page_for(_anyone_working, "marketing and sales")
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    qs = accounts_visible_to(actor_of(request))
    search = (request.GET.get("q") or "").strip().lower()
    if search:
        qs = qs.filter(domain__contains=search) | qs.filter(name__icontains=search)
    paged = paginate(request, qs.order_by(F("lead_count").desc(), "name", "id"))
    return render(
        request,
        "handoff/account_list.html",
        {"paged": paged, "rows": list(paged.page), "q": search},
    )


@page_for(_anyone_working, "marketing and sales")
@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = accounts_visible_to(actor_of(request)).filter(pk=pk).first()
    if account is None:
        raise Http404("No such account among the ones you can see.")
    account_detail_rows(account=account, user=actor_of(request))
    handoffs = account.shown_handoffs  # type: ignore[attr-defined]
    return render(
        request,
        "handoff/account_detail.html",
        {
            "account": account,
            "leads": account.shown_leads,  # type: ignore[attr-defined]
            "open_handoffs": [h for h in handoffs if h.status in OPEN_STATUSES],
            "past_handoffs": [h for h in handoffs if h.status not in OPEN_STATUSES],
            "aliases": list(account.aliases.order_by("domain").values_list("domain", flat=True)),
        },
    )
