"""Filters of the feedback lists, shared by the API and the pages."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from feedback.models import RejectionReason, ReturnFeedback
from leads.filters import BooleanFilter, IntegerFilter
from leads.models import Source


class ReturnFeedbackFilter(django_filters.FilterSet):
    reason = django_filters.CharFilter(field_name="reason__code", help_text="A reason code.")
    category = django_filters.ChoiceFilter(
        field_name="reason__category", choices=RejectionReason.Category.choices
    )
    acknowledged = BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)
    source = django_filters.ChoiceFilter(field_name="lead__source", choices=Source.choices)
    campaign = IntegerFilter(field_name="lead__campaign_id")
    rep = IntegerFilter(field_name="returned_by_id", help_text="The rep's user id.")
    team = IntegerFilter(field_name="handoff__team_id")
    # ?returned_after=2026-01-01&returned_before=2026-01-31 (whole days, inclusive)
    returned = django_filters.DateFromToRangeFilter(field_name="returned_at")
    follow_up = django_filters.ChoiceFilter(choices=ReturnFeedback.FollowUp.choices)
    dispute_status = django_filters.ChoiceFilter(choices=ReturnFeedback.DisputeStatus.choices)
    q = django_filters.CharFilter(method="search", help_text="Lead email, name or company.")

    class Meta:
        model = ReturnFeedback
        fields: list[str] = []

    def search(self, queryset: QuerySet[ReturnFeedback], name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(lead__search_text__icontains=value)
