"""django-filter FilterSets shared by the leads API and pages."""

from __future__ import annotations

import django_filters as filters

from leads.models import Lead, Source, Stage


class LeadFilter(filters.FilterSet):
    stage = filters.MultipleChoiceFilter(choices=Stage.choices, help_text="Repeat for several.")
    source = filters.MultipleChoiceFilter(choices=Source.choices, help_text="Repeat for several.")
    campaign = filters.NumberFilter(field_name="campaign_id")
    owner = filters.NumberFilter(field_name="owner_id")
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    score_min = filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = filters.NumberFilter(field_name="score", lookup_expr="lte")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ready_for_sales = filters.BooleanFilter()

    class Meta:
        model = Lead
        fields = [
            "stage",
            "source",
            "campaign",
            "owner",
            "unowned",
            "score_min",
            "score_max",
            "created_after",
            "created_before",
            "ready_for_sales",
        ]
