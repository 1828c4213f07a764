"""FilterSets for handoff lists, shared by the API and the pages."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.validators import RegexValidator
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from handoff.models import Handoff
from handoff.states import OPEN_STATUSES, Status
from leads.filters import BooleanFilter, FormBuiltOnce, IntegerFilter, IsoDateTimeFilter


def breached_q(now: Any) -> Q:
    """Breached: flagged by the sweep, or pending past its deadline and not flagged yet (the
    sweep runs every 30 s; a list must not wait for it)."""
    return Q(breached_at__isnull=False) | Q(status=Status.PENDING, due_at__lte=now)


def at_risk_q(now: Any) -> Q:
    """At risk now: pending, past its at-risk point, not yet due and not breached."""
    return Q(
        status=Status.PENDING,
        breached_at__isnull=True,
        due_at__gt=now,
        at_risk_at__lte=now,
    )


ASSIGNED_TO = r"^(me|[0-9]+)$"


class HandoffFilter(FormBuiltOnce):
    # distinct=False: a status is a column of the row, so no duplicates to remove; the default
    # SELECT DISTINCT over every selected column cost a rep's queue 80 ms at 1M handoffs.
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices,
        distinct=False,
        help_text="One or more statuses (repeat the parameter).",
    )
    open = BooleanFilter(
        method="filter_open", help_text="Still open: pending, waiting or accepted."
    )
    breached = BooleanFilter(
        method="filter_breached", help_text="Past the accept deadline (flagged or not yet)."
    )
    at_risk = BooleanFilter(
        method="filter_at_risk", help_text="Pending, past the at-risk point, not yet due."
    )
    assigned_to = extend_schema_field(
        {"type": "string", "pattern": ASSIGNED_TO, "description": "A user id, or `me`."}
    )(
        django_filters.CharFilter(
            method="filter_assigned_to",
            help_text="A user id, or `me`.",
            validators=[RegexValidator(ASSIGNED_TO, "Give a user id or `me`.")],
        )
    )
    unassigned = BooleanFilter(
        field_name="assigned_to", lookup_expr="isnull", help_text="In a manager's queue."
    )
    team = IntegerFilter(field_name="team_id")
    policy = IntegerFilter(field_name="policy_id")
    lead = IntegerFilter(field_name="lead_id")
    due_before = IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")
    due_after = IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Handoff
        fields: list[str] = []

    def filter_open(self, qs: QuerySet[Handoff], name: str, value: bool) -> QuerySet[Handoff]:
        q = Q(status__in=OPEN_STATUSES)
        return qs.filter(q) if value else qs.exclude(q)

    def filter_breached(self, qs: QuerySet[Handoff], name: str, value: bool) -> QuerySet[Handoff]:
        q = breached_q(timezone.now())
        return qs.filter(q) if value else qs.exclude(q)

    def filter_at_risk(self, qs: QuerySet[Handoff], name: str, value: bool) -> QuerySet[Handoff]:
        q = at_risk_q(timezone.now())
        return qs.filter(q) if value else qs.exclude(q)

    def filter_assigned_to(self, qs: QuerySet[Handoff], name: str, value: str) -> QuerySet[Handoff]:
        if not value:
            return qs
        if value == "me":
            user = getattr(self.request, "user", None)
            return qs.filter(assigned_to_id=getattr(user, "pk", None))
        return qs.filter(assigned_to_id=int(value))
