"""What needs me now: the counts the navigation shows beside each role's pages.

A rep: new handoffs in their queue and questions marketing answered; a marketer: open questions
from sales and returns to review; a manager: unassigned handoffs, open breaches and disputes.
All of one user's counts are one query (scalar subqueries on the user's row), made only when a
page renders the navigation (`nav_counts` in the context is lazy). The pages' 30-second HTMX
refreshes carry fresh counts in an `HX-Trigger: {"navCounts": {...}}` header (NavCountsMiddleware),
which templates/static/js/clock.js writes into the badges: no polling of its own.

Lives in the feedback app because it counts both handoffs and returns (feedback -> handoff).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from core.roles import is_manager, is_marketer, is_rep
from feedback.models import ReturnFeedback
from handoff.metrics import open_breach_q
from handoff.models import Handoff
from handoff.states import Status


def _count(qs: QuerySet[Any]) -> Coalesce:
    """COUNT(*) of `qs` as a scalar subquery (0, not NULL, when nothing matches)."""
    counted = (
        qs.order_by()
        .annotate(_one=Value(1, output_field=IntegerField()))
        .values("_one")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _queries(user: Any) -> dict[str, QuerySet[Any]]:
    now = timezone.now()
    queries: dict[str, QuerySet[Any]] = {}
    if is_rep(user):
        mine = Handoff.objects.filter(assigned_to=user, status=Status.PENDING)
        queries["rep_new"] = mine.filter(pause_count=0)
        queries["rep_answered"] = mine.filter(pause_count__gt=0)
    if is_manager(user):
        pending = Handoff.objects.filter(status=Status.PENDING)
        queries["manager_unassigned"] = pending.filter(assigned_to__isnull=True)
        queries["manager_breaches"] = Handoff.objects.filter(open_breach_q(now))
        queries["manager_disputes"] = ReturnFeedback.objects.filter(
            dispute_status=ReturnFeedback.DisputeStatus.OPEN
        )
    elif is_marketer(user):
        queries["marketer_questions"] = Handoff.objects.filter(status=Status.WAITING).filter(
            Q(promoted_by=user) | Q(lead__owner=user)
        )
        queries["marketer_returns"] = ReturnFeedback.objects.filter(acknowledged_at__isnull=True)
    return queries


def nav_counts(*, user: Any) -> dict[str, int]:
    """The user's counts by key (empty for someone with no role), in one query."""
    queries = _queries(user)
    if not queries:
        return {}
    row = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(**{key: _count(qs) for key, qs in queries.items()})
        .values(*queries)
        .first()
    )
    return {key: int(row[key]) if row else 0 for key in queries}


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: `nav_counts`, computed only if the page reads it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_counts": SimpleLazyObject(lambda: nav_counts(user=user))}


class NavCountsMiddleware:
    """Every HTMX refresh of a signed-in user answers the navigation's counts too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            request.method == "GET"
            and request.headers.get("HX-Request") == "true"
            and response.status_code == 200
            and "HX-Trigger" not in response
            and user is not None
            and user.is_authenticated
            and not request.path.startswith("/api/")
        ):
            counts = nav_counts(user=user)
            if counts:
                response["HX-Trigger"] = json.dumps({"navCounts": counts})
        return response
