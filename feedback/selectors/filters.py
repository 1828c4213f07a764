"""Which handoffs the feedback analytics count: the filters (date range, team, source,
campaign) parsed from query parameters, and the handoffs they select.

Reassigned handoffs are left out everywhere: they were handed on, and the next attempt of the
same promotion carries the outcome. Source and campaign are the handoff's snapshot of its lead
(Handoff.lead_source / lead_campaign): where the lead came from when it was handed over, read
without joining the leads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Q, QuerySet

from core.errors import ValidationFailed
from core.timefmt import day_start as _day_start
from handoff.models import Handoff
from handoff.states import Status
from leads.models import Source

OPEN_OUTCOME = (Status.PENDING, Status.WAITING)
ACCEPTED_OUTCOME = (Status.ACCEPTED, Status.QUALIFIED)


@dataclass(frozen=True)
class MetricsFilters:
    """Which handoffs the analytics look at: promoted (created) between the two dates,
    inclusive, in the site's time zone, optionally for one team, source or campaign."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    team: int | None = None
    source: str | None = None
    campaign: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MetricsFilters:
        """Parse query parameters; a bad value raises ValidationFailed naming the field."""

        def parse_date(name: str) -> dt.date | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    f"{name} must be a date like 2026-01-31.", code="invalid_date", field=name
                ) from None

        def parse_id(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            if not raw.isdigit():
                raise ValidationFailed(f"{name} must be an id.", code="invalid", field=name)
            return int(raw)

        source = (params.get("source") or "").strip() or None
        if source is not None and source not in Source.values:
            raise ValidationFailed(f"Unknown source {source!r}.", code="invalid", field="source")
        filters = cls(
            date_from=parse_date("date_from"),
            date_to=parse_date("date_to"),
            team=parse_id("team"),
            source=source,
            campaign=parse_id("campaign"),
        )
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            raise ValidationFailed(
                "date_from is after date_to.", code="invalid_range", field="date_from"
            )
        return filters

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()
        }


def _filter_q(f: MetricsFilters, *, handoff: str = "") -> Q:
    """The filters as a Q, on the handoff's fields reached through `handoff` ("" on Handoff,
    "handoff__" on ReturnFeedback). Source and campaign are the handoff's snapshot of its lead
    at promotion (attribution at the time of handoff, and no join with leads)."""
    q = Q()
    if f.date_from:
        start = _day_start(f.date_from)
        q &= Q(**{f"{handoff}created_at__gte": start})
        if not handoff:
            # Exact (every write stamps updated_at, so updated_at >= created_at), and it lets
            # PostgreSQL range-scan the narrow handoff_metrics index instead of the wide rows.
            q &= Q(updated_at__gte=start)
    if f.date_to:
        q &= Q(**{f"{handoff}created_at__lt": _day_start(f.date_to + dt.timedelta(days=1))})
    if f.team is not None:
        q &= Q(**{f"{handoff}team_id": f.team})
    if f.source:
        q &= Q(**{f"{handoff}lead_source": f.source})
    if f.campaign is not None:
        q &= Q(**{f"{handoff}lead_campaign_id": f.campaign})
    return q


def handoffs_for_metrics(filters: MetricsFilters | None = None) -> QuerySet[Handoff]:
    """The handoffs the analytics count (reassigned ones excluded, see the module docstring)."""
    return Handoff.objects.exclude(status=Status.REASSIGNED).filter(
        _filter_q(filters or MetricsFilters())
    )
