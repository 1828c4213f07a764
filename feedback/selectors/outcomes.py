"""The feedback analytics by dimension: outcomes, rates and reason mixes per source, campaign,
score band, team, rep and PQL/MQL path; the overall reason mix and totals.

Every aggregate below is one SQL query (GROUP BY with conditional counts) over the handoffs; the
Python that follows only shapes the few grouped rows into dicts for tables and charts.

Outcome vocabulary, per handoff (reassigned handoffs are left out everywhere: they were handed
on, and the next attempt of the same promotion carries the outcome):
- open: pending or waiting, no outcome yet;
- accepted: accepted or qualified (sales took it; `qualified` is the SQL subset);
- returned: sent back to marketing (also when it was accepted first);
- decided = accepted + returned; the rates are shares of the decided handoffs.
Source and campaign are the handoff's snapshot of its lead (Handoff.lead_source / lead_campaign):
where the lead came from when it was handed over, read without joining the leads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Case, Count, IntegerField, Q, Value, When

from feedback import rollup
from feedback.models import RejectionReason, ReturnFeedback
from feedback.rollup import OUTCOME_COUNTS
from feedback.selectors.filters import (
    MetricsFilters,
    _filter_q,
    handoffs_for_metrics,
)
from handoff.states import Status
from leads.models import Source
from leads.selectors import score_bands


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _with_rates(counts: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: counts.get(name) or 0 for name in OUTCOME_COUNTS}
    decided = row["accepted"] + row["returned"]
    row["decided"] = decided
    row["return_rate"] = _rate(row["returned"], decided)
    row["acceptance_rate"] = _rate(row["accepted"], decided)
    row["sql_rate"] = _rate(row["qualified"], decided)
    return row


def score_band_expression(field: str = "score_snapshot") -> Case:
    """The band index of a score: band i covers [low_i, low_i+1); the first band also takes
    anything below its bound and the last anything above."""
    bands = score_bands()
    whens = [
        When(**{f"{field}__lt": bands[i + 1][0]}, then=Value(i)) for i in range(len(bands) - 1)
    ]
    return Case(*whens, default=Value(len(bands) - 1), output_field=IntegerField())


# dimension -> (group-by values, how to build key and label from a grouped row)
DIMENSIONS = ("source", "campaign", "score_band", "team", "rep")


def _group_fields(dimension: str, prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """The annotations and values() fields that group by a dimension."""
    if dimension == "source":
        return {}, [f"{prefix}lead_source"]
    if dimension == "campaign":
        return {}, [f"{prefix}lead_campaign_id", f"{prefix}lead_campaign__name"]
    if dimension == "team":
        return {}, [f"{prefix}team_id", f"{prefix}team__name"]
    if dimension == "rep":
        return {}, [
            f"{prefix}assigned_to_id",
            f"{prefix}assigned_to__username",
            f"{prefix}assigned_to__first_name",
            f"{prefix}assigned_to__last_name",
        ]
    if dimension == "score_band":
        return {"band": score_band_expression(f"{prefix}score_snapshot")}, ["band"]
    if dimension == "qualification":
        # A handoff of a product-qualified lead keeps the PQL criteria it met; an MQL by
        # score keeps none.
        path = Case(When(**{f"{prefix}pql_criteria": []}, then=Value("mql")), default=Value("pql"))
        return {"qualification": path}, ["qualification"]
    raise ValueError(f"unknown dimension {dimension!r}")


QUALIFICATION_LABELS = {"mql": "MQL (score)", "pql": "PQL (product usage)"}


def _key_and_label(dimension: str, row: Mapping[str, Any], prefix: str = "") -> tuple[Any, str]:
    if dimension == "source":
        key = row[f"{prefix}lead_source"]
        return key, str(Source(key).label) if key in Source.values else key
    if dimension == "campaign":
        key = row[f"{prefix}lead_campaign_id"]
        return key, row[f"{prefix}lead_campaign__name"] or "No campaign"
    if dimension == "team":
        key = row[f"{prefix}team_id"]
        return key, row[f"{prefix}team__name"] or "No team"
    if dimension == "rep":
        key = row[f"{prefix}assigned_to_id"]
        full = " ".join(
            part
            for part in (
                row[f"{prefix}assigned_to__first_name"],
                row[f"{prefix}assigned_to__last_name"],
            )
            if part
        )
        return key, full or row[f"{prefix}assigned_to__username"] or "Unassigned"
    if dimension == "score_band":
        return row["band"], score_bands()[row["band"]][1]
    if dimension == "qualification":
        return row["qualification"], QUALIFICATION_LABELS[row["qualification"]]
    raise ValueError(f"unknown dimension {dimension!r}")


def _reason_lookup() -> dict[str, RejectionReason]:
    return {r.code: r for r in RejectionReason.objects.all()}


def _reason_entry(
    code: str, count: int, total: int, reasons: Mapping[str, RejectionReason]
) -> dict[str, Any]:
    reason = reasons.get(code)
    return {
        "code": code or "",
        "label": reason.label if reason else (code or "No reason recorded"),
        "category": reason.category if reason else "",
        "count": count,
        "share": _rate(count, total),
    }


def outcomes_by(
    dimension: str,
    filters: MetricsFilters | None = None,
    *,
    reasons: Mapping[str, RejectionReason] | None = None,
) -> list[dict[str, Any]]:
    """Return rate, acceptance and the reason mix per source / campaign / score band / team /
    rep, largest groups first (score bands in band order, every band listed).

    One GROUP BY (dimension, return reason) with conditional counts: each group's outcome counts
    are the sum of its reason rows, and its reason mix is the returned count of each row (only
    returned handoffs carry a reason code), so outcomes and mix come from the same scan.
    """
    annotations, fields = _group_fields(dimension)
    rows = (
        handoffs_for_metrics(filters)
        .annotate(**annotations)
        .values(*fields, "return_reason_code")
        .annotate(**OUTCOME_COUNTS)
        .order_by()
    )
    return _outcomes_from(dimension, rows, reasons if reasons is not None else _reason_lookup())


def _outcomes_from(
    dimension: str, rows: Iterable[Mapping[str, Any]], reasons: Mapping[str, RejectionReason]
) -> list[dict[str, Any]]:
    """outcomes_by's figures from its grouped rows (one per group and return reason)."""
    counts: dict[Any, dict[str, int]] = {}
    labels: dict[Any, str] = {}
    mixes: dict[Any, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:  # one row per (group, reason): a few hundred at most, whatever the data
        key, label = _key_and_label(dimension, row)
        labels[key] = label
        total = counts.setdefault(key, dict.fromkeys(OUTCOME_COUNTS, 0))
        for name in OUTCOME_COUNTS:
            total[name] += row[name]
        if row["returned"]:
            mixes[key].append((row["return_reason_code"], row["returned"]))

    result: dict[Any, dict[str, Any]] = {
        key: {"key": key, "label": labels[key], **_with_rates(total)}
        for key, total in counts.items()
    }
    if dimension == "score_band":
        for index, (low, label) in enumerate(score_bands()):
            result.setdefault(index, {"key": index, "label": label, **_with_rates({})})
            result[index]["min_score"] = low
    for key, entry in result.items():
        mix = sorted(mixes.get(key, []), key=lambda item: (-item[1], item[0]))
        entry["reasons"] = [_reason_entry(code, n, entry["returned"], reasons) for code, n in mix]
    if dimension == "score_band":
        return [result[i] for i in sorted(result)]
    if dimension == "qualification":
        for key, label in QUALIFICATION_LABELS.items():
            result.setdefault(key, {"key": key, "label": label, **_with_rates({}), "reasons": []})
        return [result[key] for key in QUALIFICATION_LABELS]
    return sorted(result.values(), key=lambda e: (-e["handoffs"], str(e["label"])))


def reason_mix(
    filters: MetricsFilters | None = None,
    *,
    reasons: Mapping[str, RejectionReason] | None = None,
) -> list[dict[str, Any]]:
    """Returns by reason over the filtered handoffs, most frequent first: from the feedback
    rollup (its whole months, the range's edge days raw; feedback.rollup), so the dashboard
    and the digest read a few rows per month."""
    f = filters or MetricsFilters()
    rollup.compact()
    start, end = rollup.range_of(f.date_from, f.date_to)
    # Unfiltered, the rows by score and reason are the fewer (the reason is among their keys).
    unfiltered = f.team is None and not f.source and f.campaign is None
    sql, params = rollup.combination_sql(
        start=start,
        end=end,
        team=f.team,
        source=f.source,
        campaign=f.campaign,
        keys=("return_reason_code",),
        counts=("returned",),
        kind=rollup.BY_SCORE if unfiltered else rollup.BY_KEYS,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        counts = sorted(
            ((code, int(n)) for code, n in cursor.fetchall() if n),
            key=lambda item: (-item[1], item[0]),
        )
    return _reason_mix_from(counts, reasons if reasons is not None else _reason_lookup())


def raw_reason_mix(
    filters: MetricsFilters | None = None,
    *,
    reasons: Mapping[str, RejectionReason] | None = None,
) -> list[dict[str, Any]]:
    """reason_mix read from the raw handoffs (one query): what the rollup must equal."""
    rows = (
        handoffs_for_metrics(filters)
        .filter(status=Status.RETURNED)
        .values("return_reason_code")
        .annotate(n=Count("id"))
        .order_by("-n", "return_reason_code")
    )
    counts = [(r["return_reason_code"], r["n"]) for r in rows]
    return _reason_mix_from(counts, reasons if reasons is not None else _reason_lookup())


def _reason_mix_from(
    counts: Sequence[tuple[str, int]], reasons: Mapping[str, RejectionReason]
) -> list[dict[str, Any]]:
    total = sum(n for _, n in counts)
    return [_reason_entry(code, n, total, reasons) for code, n in counts]


def category_mix(reason_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reason mix folded into categories (from reason_mix's rows; no query)."""
    totals: dict[str, int] = defaultdict(int)
    for row in reason_rows:
        totals[row["category"]] += row["count"]
    grand = sum(totals.values())
    labels = dict(RejectionReason.Category.choices)
    return [
        {"category": cat, "label": labels.get(cat, "Unknown"), "count": n, "share": _rate(n, grand)}
        for cat, n in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    ]


def outcome_totals(filters: MetricsFilters | None = None) -> dict[str, Any]:
    """The headline numbers over the filtered handoffs (one query), plus marketing's review
    backlog and disputes over the same handoffs (one query)."""
    f = filters or MetricsFilters()
    totals = _with_rates(handoffs_for_metrics(f).aggregate(**OUTCOME_COUNTS))
    totals.update(_review_counts(f))
    return totals


def acceptance_by_score_band(
    filters: MetricsFilters | None = None, *, rows: Sequence[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """MQL -> SAL/SQL by score band: decided, accepted, qualified, returned and their rates.

    `rows` may be outcomes_by("score_band", ...)'s result, to reuse its query.
    """
    rows = rows if rows is not None else outcomes_by("score_band", filters)
    keep = (
        "key", "label", "min_score", "handoffs", "open", "decided", "accepted", "qualified",
        "returned", "acceptance_rate", "sql_rate", "return_rate",
    )  # fmt: skip
    return [{k: row[k] for k in keep} for row in rows]


def _review_counts(f: MetricsFilters) -> dict[str, Any]:
    """Marketing's review backlog and disputes over the filtered handoffs (one query)."""
    return ReturnFeedback.objects.filter(_filter_q(f, handoff="handoff__")).aggregate(
        with_feedback=Count("id"),
        unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True)),
        disputes_open=Count("id", filter=Q(dispute_status=ReturnFeedback.DisputeStatus.OPEN)),
        overturned=Count("id", filter=Q(dispute_status=ReturnFeedback.DisputeStatus.OVERTURNED)),
        disqualified=Count("id", filter=Q(lead_effect=RejectionReason.Effect.DISQUALIFY)),
    )
