"""Which promotion cohort the revenue metrics read: the filters (date range, default the last 4
quarters; team; source; campaign) and the handoffs, opportunities and rollup rows they select."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    QuerySet,
)
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from core.errors import ValidationFailed
from handoff.models import Handoff
from handoff.states import Status
from pipeline.models import (
    Opportunity,
)

PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Promoted on or after."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Promoted on or before."),
    OpenApiParameter("team", OpenApiTypes.INT, description="One team's handoffs."),
]


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def default_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last 4 quarters: the current one and the three before it."""
    start = quarter_start(today)
    month = start.month - 9
    year = start.year
    while month < 1:
        month += 12
        year -= 1
    return dt.date(year, month, 1), today


@dataclass(frozen=True)
class RevenueFilters:
    date_from: dt.date
    date_to: dt.date
    team: int | None = None
    source: str | None = None
    campaign: int | None = None

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, today: dt.date | None = None
    ) -> RevenueFilters:
        today = today or timezone.localdate()
        default_from, default_to = default_range(today)

        def parse_date(name: str, default: dt.date) -> dt.date:
            raw = str(params.get(name) or "").strip()
            if not raw:
                return default
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    f"{name} must be a date like 2026-01-31.", code="invalid_date", field=name
                ) from None

        team = str(params.get("team") or "").strip()
        if team and (not team.isdigit() or len(team) > 18):
            raise ValidationFailed("team must be a team id.", code="invalid", field="team")
        filters = cls(
            date_from=parse_date("date_from", default_from),
            date_to=parse_date("date_to", default_to),
            team=int(team) if team else None,
        )
        if filters.date_from > filters.date_to:
            raise ValidationFailed(
                "date_from is after date_to.", code="invalid_range", field="date_from"
            )
        return filters

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        start = timezone.make_aware(dt.datetime.combine(self.date_from, dt.time.min))
        end = timezone.make_aware(
            dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min)
        )
        return start, end

    def as_dict(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "team": self.team,
            "source": self.source,
            "campaign": self.campaign,
        }


# --- the cohort -------------------------------------------------------------------------------


def cohort_handoffs(filters: RevenueFilters) -> QuerySet[Handoff]:
    start, end = filters.bounds()
    qs = Handoff.objects.exclude(status=Status.REASSIGNED).filter(
        created_at__gte=start, created_at__lt=end
    )
    if filters.source:
        qs = qs.filter(lead_source=filters.source)
    if filters.campaign is not None:
        qs = qs.filter(lead_campaign_id=filters.campaign)
    return qs.filter(team_id=filters.team) if filters.team is not None else qs


def cohort_opportunities(filters: RevenueFilters) -> QuerySet[Opportunity]:
    start, end = filters.bounds()
    qs = Opportunity.objects.filter(promoted_at__gte=start, promoted_at__lt=end)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.campaign is not None:
        qs = qs.filter(campaign_id=filters.campaign)
    return qs.filter(team_id=filters.team) if filters.team is not None else qs


def _cohort(model: Any, filters: RevenueFilters) -> QuerySet[Any]:
    """The rollup rows (counts or durations) of the promotion days in range."""
    qs = model.objects.filter(day__gte=filters.date_from, day__lte=filters.date_to)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.campaign is not None:
        qs = qs.filter(campaign_id=filters.campaign)
    return qs.filter(team_id=filters.team) if filters.team is not None else qs
