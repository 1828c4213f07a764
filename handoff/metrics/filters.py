"""The date range and team of every SLA figure (SlaFilters), and the date helpers they share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from core.errors import ValidationFailed
from core.timefmt import day_start

DEFAULT_WEEKS = 8
MAX_RANGE_DAYS = 731

# --- filters ----------------------------------------------------------------------------------


def local_today(now: dt.datetime) -> dt.date:
    return timezone.localtime(now).date()


def week_start(day: dt.date) -> dt.date:
    """The Monday of the ISO week of `day`."""
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class SlaFilters:
    """A range of local dates (both inclusive) and optionally one team."""

    start: dt.date
    end: dt.date
    team: int | None = None

    @classmethod
    def default(cls, *, now: dt.datetime, team: int | None = None) -> SlaFilters:
        today = local_today(now)
        return cls(
            start=week_start(today) - dt.timedelta(weeks=DEFAULT_WEEKS - 1), end=today, team=team
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, now: dt.datetime) -> SlaFilters:
        """Parse `date_from`, `date_to` (ISO dates; `start` and `end` are their older names,
        still read) and `team` (an id); a bad value raises ValidationFailed naming the field the
        client sent. Missing dates take the default range's."""

        def text(name: str) -> str:
            value = params.get(name)
            return str(value).strip() if value is not None else ""

        def parse_date(name: str) -> dt.date | None:
            raw = text(name)
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    f"{name} must be a date like 2026-01-31.", code="invalid_date", field=name
                ) from None

        team_raw = text("team")
        if team_raw and not team_raw.isdigit():
            raise ValidationFailed("team must be a team id.", code="invalid", field="team")
        default = cls.default(now=now)
        # The metrics APIs name their range date_from/date_to; the new name wins over the old.
        from_name = "date_from" if text("date_from") or not text("start") else "start"
        to_name = "date_to" if text("date_to") or not text("end") else "end"
        start = parse_date(from_name)
        end = parse_date(to_name)
        if start is None:
            start = default.start if end is None else end - (default.end - default.start)
        end = end or max(default.end, start)
        if start > end:
            raise ValidationFailed(
                f"{from_name} is after {to_name}.", code="invalid_range", field=from_name
            )
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(
                f"Give a range of at most {MAX_RANGE_DAYS} days.",
                code="invalid_range",
                field=to_name,
            )
        return cls(start=start, end=end, team=int(team_raw) if team_raw else None)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start of the first day, start of the day after the last) as aware datetimes."""
        return day_start(self.start), day_start(self.end + dt.timedelta(days=1))

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "team": self.team}


def team_q(filters: SlaFilters) -> Q:
    return Q(team_id=filters.team) if filters.team is not None else Q()


def created_in(filters: SlaFilters) -> Q:
    low, high = filters.bounds()
    return Q(created_at__gte=low, created_at__lt=high)


def accepted_in(filters: SlaFilters) -> Q:
    low, high = filters.bounds()
    return Q(accepted_at__gte=low, accepted_at__lt=high)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- the four reads behind every figure -------------------------------------------------------
#
# Every handoff that counts for a range [low, high) was written at or after `low`: created in
# it, answered, accepted or flagged as breached in it (each transition and the sweep set
# updated_at), so `updated_at >= low` is a safe first cut, served by the handoff_metrics index
# (updated_at, INCLUDE the columns read here: an index-only range scan, not a pass over the
# wide handoff rows). The one exception, a pending handoff past its deadline that the sweep has
# not flagged yet (it was not written at its deadline), is read apart (_unflagged_breaches)
# over the handoff_due_open index, and left out of the main read so it is counted once.


def since(low: dt.datetime) -> Q:
    return Q(updated_at__gte=low)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
