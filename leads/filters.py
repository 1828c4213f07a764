"""django-filter FilterSets shared by the leads API and pages."""

from __future__ import annotations

import django_filters as filters
from django import forms

from leads.models import Lead, Source, Stage

# The range of the database's bigint: a bigger number is a 400 naming the parameter, never an
# overflow in the query.
BIGINT_MAX = 2**63 - 1


class IntegerFilter(filters.NumberFilter):
    """A whole number (an id, a score) within the database's range; 1.5 or 1e30 are refused
    like any other bad value (django-filter's NumberFilter takes any decimal)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", -BIGINT_MAX)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


class LeadFilter(filters.FilterSet):
    stage = filters.MultipleChoiceFilter(choices=Stage.choices, help_text="Repeat for several.")
    source = filters.MultipleChoiceFilter(choices=Source.choices, help_text="Repeat for several.")
    campaign = IntegerFilter(field_name="campaign_id")
    owner = IntegerFilter(field_name="owner_id")
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    score_min = IntegerFilter(field_name="score", lookup_expr="gte")
    score_max = IntegerFilter(field_name="score", lookup_expr="lte")
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
