"""The promotion cohort of a range: the MQL -> SAL -> SQL funnel, the MQL/PQL split and the
conversion by lead source, read from the handoffs and shaped (the rollup's reads, rolled.py,
give the same rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Case, Count, Q, Value, When

from handoff.metrics.filters import SlaFilters, created_in, rate, since, team_q
from handoff.models import Handoff
from handoff.states import Status
from leads.models import Source

FUNNEL_COUNTS = ("mql", "sal", "sql", "returned", "open")


def funnel_counts() -> dict[str, Count]:
    """The funnel's counts over handoffs (reassigned attempts left out of MQL/SAL/SQL: the next
    attempt of the same promotion carries its outcome)."""
    promotion = ~Q(status=Status.REASSIGNED)
    return {
        "mql": Count("id", filter=promotion),
        "sal": Count("id", filter=promotion & Q(accepted_at__isnull=False)),
        "sql": Count("id", filter=promotion & Q(qualified_at__isnull=False)),
        "returned": Count("id", filter=Q(status=Status.RETURNED)),
        "open": Count("id", filter=Q(status__in=(Status.PENDING, Status.WAITING))),
    }


def cohort_rows(filters: SlaFilters) -> list[dict[str, Any]]:
    """The handoffs created in the range, counted per (source, team, rep): the funnel, the
    conversion by source and the attempts of the team and rep tables. One query."""
    low, _ = filters.bounds()
    rows = (
        Handoff.objects.filter(since(low), created_in(filters), team_q(filters))
        .values("lead_source", "team_id", "assigned_to_id")
        .annotate(
            attempts=Count("id"),
            attempts_accepted=Count("id", filter=Q(accepted_at__isnull=False)),
            **funnel_counts(),
        )
        .order_by()
    )
    return [dict(row) for row in rows]


def funnel_row(counts: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {name: int(counts.get(name) or 0) for name in FUNNEL_COUNTS}
    row["mql_to_sal"] = rate(row["sal"], row["mql"])
    row["sal_to_sql"] = rate(row["sql"], row["sal"])
    row["mql_to_sql"] = rate(row["sql"], row["mql"])
    return row


def summed(rows: Sequence[Mapping[str, Any]], key: str | None) -> dict[Any, dict[str, int]]:
    totals: dict[Any, dict[str, int]] = {}
    for row in rows:
        group = totals.setdefault(row[key] if key else None, defaultdict(int))
        for name, value in row.items():
            if isinstance(value, int) and name not in ("team_id", "assigned_to_id"):
                group[name] += value
    return totals


def funnel_from(cohort: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    row = funnel_row(summed(cohort, None).get(None, {}))
    row["steps"] = [
        {"stage": "mql", "label": "MQL (handed to sales)", "count": row["mql"], "rate": None},
        {"stage": "sal", "label": "SAL (accepted)", "count": row["sal"], "rate": row["mql_to_sal"]},
        {"stage": "sql", "label": "SQL (qualified)", "count": row["sql"], "rate": row["sal_to_sql"]},
    ]  # fmt: skip
    return row


def sources_from(cohort: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    labels = dict(Source.choices)
    result = [
        {
            "source": source,
            "label": str(labels.get(source, source or "Unknown")),
            **funnel_row(counts),
        }
        for source, counts in summed(cohort, "lead_source").items()
    ]
    return sorted((r for r in result if r["mql"]), key=lambda r: (-r["mql"], r["label"]))


# The qualification path frozen on the handoff at promotion (Handoff.pql_criteria: the PQL
# criteria the lead met then, empty for an MQL by score), so a lead that later stops or starts
# being a PQL never moves a past handoff between the columns.
FUNNEL_KINDS = {"mql": "MQL (score)", "pql": "PQL (product usage)"}


def kind_rows(filters: SlaFilters) -> list[dict[str, Any]]:
    """The funnel's counts per path ("mql", "pql") over the handoffs promoted in the range,
    from the handoffs (the dashboard reads the rollup: metrics.rolled). One query."""
    low, _ = filters.bounds()
    rows = (
        Handoff.objects.filter(since(low), created_in(filters), team_q(filters))
        .annotate(kind=Case(When(pql_criteria=[], then=Value("mql")), default=Value("pql")))
        .values("kind")
        .annotate(**funnel_counts())
        .order_by()
    )
    return [dict(row) for row in rows]


def kinds_from(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The funnel for MQLs and PQLs side by side: handoffs sent, accepted (SAL), qualified
    (SQL), returned and open, with the acceptance rate (SAL / sent) and the SQL rate (SQL /
    sent). Both kinds are always listed, in that order. `rows` carry a "kind" ("mql", "pql")
    or a boolean "pql", and the funnel's counts; rows of one kind are summed."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        kind = row.get("kind") or ("pql" if row.get("pql") else "mql")
        totals = counts.setdefault(kind, dict.fromkeys(FUNNEL_COUNTS, 0))
        for name in FUNNEL_COUNTS:
            totals[name] += int(row.get(name) or 0)
    result = []
    for kind, label in FUNNEL_KINDS.items():
        row = funnel_row(counts.get(kind, {}))
        result.append(
            {
                "kind": kind,
                "label": label,
                "sent": row["mql"],
                "accepted": row["sal"],
                "qualified": row["sql"],
                "returned": row["returned"],
                "open": row["open"],
                "acceptance_rate": row["mql_to_sal"],
                "sql_rate": row["mql_to_sql"],
            }
        )
    return result
