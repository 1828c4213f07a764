"""The scoring rules, edited in the admin and the API: the settings (one row), fit rules,
engagement rules and PQL criteria, with the checks of their values."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from leads.history import AuditRecords
from leads.models.choices import EMPLOYEE_BAND_MIN, SENIORITY_RANK, EventKind


class ScoringConfig(models.Model):
    """The one row of scoring settings: the MQL threshold and the engagement half-life."""

    mql_threshold = models.PositiveIntegerField(default=60)
    engagement_half_life_days = models.FloatField(default=30.0)
    # Events older than this count for nothing (and are not read when scoring).
    engagement_window_days = models.PositiveIntegerField(default=180)
    # Bumped on every rule change, so a breakdown names the rule set that produced it.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["version", "updated_at"])

    class Meta:
        verbose_name = "scoring settings"
        verbose_name_plural = "scoring settings"

    def __str__(self) -> str:
        return f"Scoring v{self.version} (MQL at {self.mql_threshold})"

    def clean(self) -> None:
        if self.engagement_half_life_days is not None and self.engagement_half_life_days <= 0:
            raise ValidationError({"engagement_half_life_days": "Must be more than 0 days."})


class FitRule(models.Model):
    """Firmographic / demographic rule: if the lead's field matches, add (or remove) points."""

    class Field(models.TextChoices):
        INDUSTRY = "industry", "Industry"
        EMPLOYEE_BAND = "employee_band", "Employee band"
        SENIORITY = "seniority", "Seniority"
        COUNTRY = "country", "Country"
        TITLE = "title", "Title"
        DOMAIN = "domain", "Email domain"
        SOURCE = "source", "Source"

    class Operator(models.TextChoices):
        EQUALS = "eq", "equals"
        IN = "in", "is one of"
        GTE = "gte", "is at least"
        LTE = "lte", "is at most"
        CONTAINS = "contains", "contains (case-insensitive)"
        FREE_MAIL = "free_mail", "is a free-mail domain"

    name = models.CharField(max_length=100, unique=True)
    field = models.CharField(max_length=32, choices=Field.choices)
    operator = models.CharField(max_length=16, choices=Operator.choices)
    # A string, a number, or a list of strings, depending on the operator.
    value = models.JSONField(default=list, blank=True)
    points = models.IntegerField()
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    history = AuditRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"

    def clean(self) -> None:
        problem = fit_rule_value_problem(self.field, self.operator, self.value)
        if problem:
            raise ValidationError({"value": problem})


def fit_rule_value_problem(field: str, operator: str, value: Any) -> str | None:
    """What is wrong with a fit rule's value for its operator, or None (admin, API and tests)."""
    if operator == FitRule.Operator.IN:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return 'Give a non-empty list of strings, e.g. ["software", "fintech"].'
    elif operator in (FitRule.Operator.GTE, FitRule.Operator.LTE):
        if field == FitRule.Field.EMPLOYEE_BAND:
            # (isinstance first: a list or an object is not a key of the table, and not hashable.)
            if isinstance(value, bool) or not (
                isinstance(value, int | float)
                or (isinstance(value, str) and value in EMPLOYEE_BAND_MIN)
            ):
                return 'Give a number of employees (e.g. 200) or a band (e.g. "201-500").'
        elif field == FitRule.Field.SENIORITY:
            if isinstance(value, bool) or not (
                isinstance(value, int)
                or (isinstance(value, str) and value in SENIORITY_RANK and value != "")
            ):
                return "Give a seniority (individual, manager, director, vp, c_level)."
        else:
            return "At least / at most only compare employee band or seniority."
    elif operator in (FitRule.Operator.EQUALS, FitRule.Operator.CONTAINS):
        if not isinstance(value, str) and not (
            operator == FitRule.Operator.CONTAINS
            and isinstance(value, list)
            and value
            and all(isinstance(v, str) for v in value)
        ):
            return "Give a string (contains also takes a list of strings: any of them matches)."
    elif operator == FitRule.Operator.FREE_MAIL:
        if field != FitRule.Field.DOMAIN:
            return "Free-mail checks the email domain: pick the field 'Email domain'."
        if value not in (None, "", []) and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return "Leave empty, or list extra free-mail domains."
    return None


class EngagementRule(models.Model):
    """Points for each event of a kind (decayed with the half-life), plus one-off intent points."""

    kind = models.CharField(max_length=32, choices=EventKind.choices, unique=True)
    points = models.IntegerField(default=0, help_text="Per event, before decay.")
    max_events = models.PositiveIntegerField(
        default=5, help_text="Count at most this many events of the kind."
    )
    intent_points = models.IntegerField(
        default=0, help_text="Added once when an event of this kind happened within the window."
    )
    intent_window_days = models.PositiveIntegerField(default=14)
    active = models.BooleanField(default=True)
    history = AuditRecords()

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.points:+d})"


class PqlCriterion(models.Model):
    """One product-usage signal that makes a lead product-qualified (any active one suffices)."""

    class Kind(models.TextChoices):
        USAGE_DAYS = "usage_days", "Product used on at least N distinct days"
        FEATURE = "feature", "Used a named feature"
        TRIAL = "trial", "Trial activated"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    min_days = models.PositiveIntegerField(
        default=3, help_text="usage_days: distinct days with a product_usage event."
    )
    feature = models.CharField(
        max_length=100,
        blank=True,
        help_text='feature: a product_usage event whose payload has {"feature": this}.',
    )
    within_days = models.PositiveIntegerField(default=14, help_text="Only events this recent.")
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    history = AuditRecords()

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "PQL criterion"
        verbose_name_plural = "PQL criteria"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problem = pql_criterion_problem(self.kind, self.min_days, self.feature, self.within_days)
        if problem:
            raise ValidationError({problem[0]: problem[1]})


def pql_criterion_problem(
    kind: str, min_days: int | None, feature: str, within_days: int | None
) -> tuple[str, str] | None:
    """(field, message) when a criterion cannot work, else None (admin, API and tests)."""
    if not within_days or within_days < 1 or within_days > 365:
        return ("within_days", "Give 1 to 365 days.")
    if kind == PqlCriterion.Kind.USAGE_DAYS and (
        not min_days or min_days < 1 or min_days > within_days
    ):
        return ("min_days", "Give at least 1 day, and no more than within_days.")
    if kind == PqlCriterion.Kind.FEATURE and not (feature or "").strip():
        return ("feature", "Name the feature (the payload's `feature` value).")
    return None
