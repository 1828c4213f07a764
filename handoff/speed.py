"""Speed to lead: how long from the buyer's signal to a rep being told, and to a rep accepting.

Per handoff (first attempts only: a reassignment is the same promotion again) the signal is
`signal_at` (the triggering event's occurred_at; for a marketer's promotion, the lead's latest
high-intent event before it), "rep notified" is when the assignment email to the rep was sent
(the outbox row's `sent_at`), "accepted" is `accepted_at`. Each is read in wall minutes and in
business minutes of the handoff's calendar, as median and p90, for all handoffs, per team and
per source, automatic and manual promotions side by side.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Min, OuterRef, Subquery

from core.timefmt import duration_label
from handoff import sla
from handoff.metrics import SlaFilters, percentile_cont
from handoff.models import BusinessCalendar, Handoff, Notification
from handoff.selectors import calendar_for
from leads.models import Source

KINDS = ("auto", "manual")
MEASURES = ("notified", "accepted")
KIND_LABELS = {"auto": "Automatically", "manual": "By a marketer"}


@dataclass(frozen=True)
class _Row:
    team: str
    source: str
    kind: str
    # (wall minutes, business minutes) from the signal, or None when it has not happened.
    notified: tuple[float, float] | None
    accepted: tuple[float, float] | None


def _span(
    start: dt.datetime | None, end: dt.datetime | None, calendar: sla.Calendar | None
) -> tuple[float, float] | None:
    if start is None or end is None:
        return None
    wall = max((end - start).total_seconds(), 0.0) / 60.0
    business = sla.business_minutes_between(start, end, calendar) if calendar else wall
    return wall, business


def _rows(filters: SlaFilters) -> list[_Row]:
    low, high = filters.bounds()
    sent = (
        Notification.objects.filter(
            handoff=OuterRef("pk"), kind=Notification.Kind.ASSIGNED, sent_at__isnull=False
        )
        .values("handoff")
        .annotate(first=Min("sent_at"))
        .values("first")
    )
    handoffs = Handoff.objects.filter(
        signal_at__isnull=False, created_at__gte=low, created_at__lt=high, attempt=1
    )
    if filters.team is not None:
        handoffs = handoffs.filter(team_id=filters.team)
    values = list(
        handoffs.annotate(notified_at=Subquery(sent[:1])).values_list(
            "team__name",
            "lead_source",
            "auto_promotion",
            "signal_at",
            "notified_at",
            "accepted_at",
            "calendar_id",
        )
    )
    calendar_ids = {row[6] for row in values if row[6] is not None}
    # calendar_for keeps built calendars: their windows are read once per calendar and edit.
    calendars = {
        c.pk: calendar_for(c) for c in BusinessCalendar.objects.filter(pk__in=calendar_ids)
    }
    rows = []
    for team, source, auto, signal, notified, accepted, calendar_id in values:
        calendar = calendars.get(calendar_id)
        rows.append(
            _Row(
                team=team or "-",
                source=source or "",
                kind="auto" if auto else "manual",
                notified=_span(signal, notified, calendar),
                accepted=_span(signal, accepted, calendar),
            )
        )
    return rows


def _figures(rows: Sequence[_Row]) -> dict[str, Any]:
    """{kind: {count, notified: {wall: {median, p90}, business: {...}}, accepted: {...}}}."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        mine = [r for r in rows if r.kind == kind]
        figures: dict[str, Any] = {"count": len(mine)}
        for measure in MEASURES:
            spans = [s for s in (getattr(r, measure) for r in mine) if s is not None]
            per_clock: dict[str, Any] = {"count": len(spans)}
            for index, clock in enumerate(("wall", "business")):
                values = sorted(s[index] for s in spans)
                median, p90 = percentile_cont(values, 0.5), percentile_cont(values, 0.9)
                per_clock[clock] = {
                    "median": round(median, 2) if median is not None else None,
                    "p90": round(p90, 2) if p90 is not None else None,
                }
            figures[measure] = per_clock
        out[kind] = figures
    return out


def _grouped(rows: Iterable[_Row], key: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    groups: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    return [
        {"key": name, "label": labels.get(name, name) or "-", **_figures(members)}
        for name, members in sorted(groups.items())
    ]


def speed_to_lead(filters: SlaFilters) -> dict[str, Any]:
    """The figures for the handoffs created in the filters' range (and team)."""
    rows = _rows(filters)
    return {
        "all": _figures(rows),
        "by_team": _grouped(rows, "team", {}),
        "by_source": _grouped(rows, "source", dict(Source.choices)),
    }


def table_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's table: one line per group (all, each team, each source), each cell the
    median and p90 in wall time and business time, auto and manual side by side."""

    def cells(figures: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"count": figures["count"]}
        for measure in MEASURES:
            m = figures[measure]
            out[measure] = {
                f"{clock}_{stat}": duration_label(m[clock][stat])
                for clock in ("wall", "business")
                for stat in ("median", "p90")
            }
        return out

    def line(group: str, label: str, figures: dict[str, Any]) -> dict[str, Any]:
        return {
            "group": group,
            "label": label,
            "cells": [(k, KIND_LABELS[k], cells(figures[k])) for k in KINDS],
        }

    lines = [line("All", "All promotions", data["all"])]
    for group, title in (("by_team", "Team"), ("by_source", "Source")):
        lines += [line(title, item["label"], item) for item in data[group]]
    return lines
