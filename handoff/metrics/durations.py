"""Percentiles of durations (PostgreSQL's percentile_cont, and the same interpolation in
Python), minutes to accept, and the labels of durations in minutes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Aggregate, ExpressionWrapper, F, FloatField, Func, Value
from django.db.models.functions import Greatest

# Without percentile_cont (SQLite), percentiles of time to accept are computed in Python over
# at most this many of the latest accepts in the range; the figures say "sample" then.
ACCEPT_ROWS_LIMIT = 50000

# --- percentiles ------------------------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile: percentile_cont(f) WITHIN GROUP (ORDER BY expr)."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """The same linear interpolation as PostgreSQL's percentile_cont, over sorted values."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def has_percentile_cont() -> bool:
    return connection.vendor == "postgresql"


def wall_minutes_expression() -> ExpressionWrapper:
    """Minutes from promotion to accept, minus the time paused for marketing (PostgreSQL)."""
    seconds = Func(
        F("accepted_at"),
        F("created_at"),
        arg_joiner=" - ",
        template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
        output_field=FloatField(),
    )
    minutes = ExpressionWrapper(
        (seconds - F("paused_seconds_total")) / Value(60.0), output_field=FloatField()
    )
    return ExpressionWrapper(Greatest(minutes, Value(0.0)), output_field=FloatField())


def wall_minutes(created: dt.datetime, accepted: dt.datetime | None, paused: int) -> float:
    if accepted is None:  # callers read accepted rows only
        return 0.0
    return max((accepted - created).total_seconds() - (paused or 0), 0.0) / 60.0


def rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def percentiles(values: list[float]) -> tuple[float | None, float | None]:
    values.sort()
    return rounded(percentile_cont(values, 0.5)), rounded(percentile_cont(values, 0.9))
