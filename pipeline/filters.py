"""FilterSets for opportunity lists, shared by the API and the pages."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import Q, QuerySet

from core.timefmt import day_start
from leads.filters import IntegerFilter
from leads.models import Source
from pipeline.models import Opportunity
from pipeline.states import Stage


class OpportunityFilter(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(
        choices=Stage.choices, distinct=False, help_text="One or more stages (repeat)."
    )
    rep = IntegerFilter(field_name="owner_id", help_text="The rep's user id.")
    team = IntegerFilter(field_name="team_id")
    source = django_filters.MultipleChoiceFilter(
        choices=Source.choices, distinct=False, help_text="Source at promotion (repeat)."
    )
    campaign = IntegerFilter(field_name="campaign_id", help_text="Campaign at promotion.")
    lead = IntegerFilter(field_name="lead_id")
    closed_from = django_filters.DateFilter(
        method="filter_closed_from", help_text="Won or lost on or after this date."
    )
    closed_to = django_filters.DateFilter(
        method="filter_closed_to", help_text="Won or lost on or before this date."
    )

    class Meta:
        model = Opportunity
        fields = ["stage", "rep", "team", "source", "campaign", "lead"]

    def filter_closed_from(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        start = day_start(value)
        return queryset.filter(Q(won_at__gte=start) | Q(lost_at__gte=start))

    def filter_closed_to(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        end = day_start(value + dt.timedelta(days=1))
        return queryset.filter(Q(won_at__lt=end) | Q(lost_at__lt=end))
