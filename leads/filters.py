"""django-filter FilterSets shared by the leads API and pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.filters import QuerySetRequestMixin
from drf_spectacular.utils import extend_schema_field

from leads.models import Lead, LeadImportChange, Source, Stage

# The range of the database's bigint: a bigger number is a 400 naming the parameter, never an
# overflow in the query.
BIGINT_MAX = 2**63 - 1


class IntegerFilter(filters.NumberFilter):
    """A whole number (an id, a score) within the database's range; 1.5 or 1e30 are refused
    like any other bad value (django-filter's NumberFilter takes any decimal). Documented as an
    integer (a NumberFilter is a `number` in the schema, and generated clients send floats)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", -BIGINT_MAX)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)
        schema: dict[str, Any] = {
            "type": "integer",
            "format": "int64",
            "minimum": kwargs["min_value"],
            "maximum": kwargs["max_value"],
        }
        if kwargs.get("help_text"):
            schema["description"] = kwargs["help_text"]
        extend_schema_field(schema)(self)


class StrictBooleanField(forms.Field):
    """`true` or `false` (also 1 / 0, any case). Anything else is an error naming the parameter;
    django-filter's NullBooleanField reads `maybe` as "not given" and filters nothing."""

    TRUE = frozenset({"true", "1"})
    FALSE = frozenset({"false", "0"})
    default_error_messages = {"invalid": "Give true or false."}

    def to_python(self, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if not text:
            return None
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, read in UTC: an offset Python accepts but PostgreSQL does not (it
    stops at +-15:59, Python at +-23:59) or a moment past year 1 or 9999 in UTC is a 400 naming
    the parameter, not a database error."""

    def to_python(self, value: Any) -> dt.datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise ValidationError(
                "Out of range: give a date-time between years 1 and 9999."
            ) from None


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FormBuiltOnce(filters.FilterSet):
    """A FilterSet whose form class is built once per FilterSet class. django-filter builds a
    new form class on every request, with each filter's form field and label (a quarter of the
    rep's queue read); the fields depend on the filters' declarations only, unless a filter
    picks its choices from the request (a model choice with a callable queryset: then it is
    built per request as before). Each request still gets its own form and its own fields
    (a Django form copies its class's fields)."""

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        built: type[forms.Form] | None = cls.__dict__.get("_built_form_class")
        if built is None:
            built = super().get_form_class()
            if not any(isinstance(f, QuerySetRequestMixin) for f in self.filters.values()):
                setattr(cls, "_built_form_class", built)  # noqa: B010
        return built


class LeadFilter(filters.FilterSet):
    stage = filters.MultipleChoiceFilter(choices=Stage.choices, help_text="Repeat for several.")
    source = filters.MultipleChoiceFilter(choices=Source.choices, help_text="Repeat for several.")
    campaign = IntegerFilter(field_name="campaign_id")
    owner = IntegerFilter(field_name="owner_id")
    unowned = BooleanFilter(field_name="owner", lookup_expr="isnull")
    score_min = IntegerFilter(field_name="score", lookup_expr="gte")
    score_max = IntegerFilter(field_name="score", lookup_expr="lte")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ready_for_sales = BooleanFilter()
    lead_import = IntegerFilter(
        method="in_import", help_text="The leads an import (the import page) created."
    )

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
            "lead_import",
        ]

    def in_import(self, queryset: Any, name: str, value: int) -> Any:
        ids = LeadImportChange.objects.filter(lead_import_id=value, created=True).values("lead_id")
        return queryset.filter(pk__in=ids)
