"""The whole feedback metrics payload (the metrics API, the report): every table at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from feedback.selectors.advisor import _thresholds, threshold_advisor
from feedback.selectors.filters import (
    ACCEPTED_OUTCOME,
    OPEN_OUTCOME,
    MetricsFilters,
    handoffs_for_metrics,
)
from feedback.selectors.outcomes import (
    DIMENSIONS,
    OUTCOME_COUNTS,
    _outcomes_from,
    _reason_lookup,
    _reason_mix_from,
    _review_counts,
    _with_rates,
    acceptance_by_score_band,
    category_mix,
    outcome_totals,
    outcomes_by,
    reason_mix,
)
from handoff.models import Team
from handoff.states import Status
from leads.models import Campaign
from leads.selectors import score_bands

# --- the whole payload in one pass ------------------------------------------------------------

# Each dimension's grouping columns by id only: names are looked up afterwards for the few keys
# found, instead of joining every handoff to its campaign, team and rep. PQL/MQL is not among
# them: it is read from the handoff's JSON criteria (the wide row), so the pass counts the PQL
# handoffs apart, from their partial index, and MQL is the rest (see _qualification_rows).
_PASS_KEYS = {
    "source": ("lead_source",),
    "campaign": ("lead_campaign_id",),
    "score_band": ("score",),
    "team": ("team_id",),
    "rep": ("assigned_to_id",),
}
PASS_WORK_MEM = "64MB"
# Read from the handoffs: the grouped columns, the score (as its slot among the score bands'
# and candidate thresholds' bounds) and the status (counted, not grouped).
_PASS_COLUMNS = (
    "lead_source", "lead_campaign_id", "score", "team_id", "assigned_to_id",
    "return_reason_code", "status",
)  # fmt: skip
_GROUPED = _PASS_COLUMNS[:-1]
_PQL_MASK = -1  # the PQL rows' mark in the pass's GROUPING column


def _among(statuses: Sequence[str]) -> str:  # our own Status values, as literals
    return ", ".join(f"'{Status(s).value}'" for s in statuses)


_OUTCOMES = {  # the outcome counts, in the order the pass selects them
    "handoffs": "TRUE",
    "open": f"status IN ({_among(OPEN_OUTCOME)})",
    "accepted": f"status IN ({_among(ACCEPTED_OUTCOME)})",
    "qualified": f"status IN ({_among([Status.QUALIFIED])})",
    "returned": f"status IN ({_among([Status.RETURNED])})",
}


def _bounds(thresholds: Sequence[int]) -> list[int]:
    """Every score band's and candidate threshold's lower bound, sorted: a score's slot among
    them (width_bucket: 0 below the first, i from the i-th on) gives both its band and its
    threshold bucket."""
    return sorted({low for low, _ in score_bands()} | set(thresholds))


def _band_and_bucket(slot: int, bounds: Sequence[int], thresholds: Sequence[int]) -> tuple:
    """(score band index, threshold bucket) of a slot: as score_band_expression and
    _threshold_bucket say for every score in it."""
    low = bounds[slot - 1] if slot > 0 else None
    band = 0
    for i, (band_low, _) in enumerate(score_bands()):
        if low is not None and band_low <= low:
            band = i
    bucket = max((t for t in thresholds if low is not None and t <= low), default=-1)
    return band, bucket


def _pass_sql(filters: MetricsFilters, thresholds: Sequence[int]) -> tuple[str, list[Any], dict]:
    """The one statement, its parameters and GROUPING mask -> set name."""
    bounds = _bounds(thresholds)
    slot = f"width_bucket(score_snapshot, ARRAY[{', '.join(str(int(b)) for b in bounds)}])"
    query = (
        handoffs_for_metrics(filters)
        .values_list("lead_source", "lead_campaign_id", "score_snapshot", "team_id",
                     "assigned_to_id", "return_reason_code", "status")
        .order_by()
        .query
    )  # fmt: skip
    inner, params = query.sql_with_params()
    pql, pql_params = (
        handoffs_for_metrics(filters)
        .exclude(pql_criteria=[])
        .values_list("return_reason_code", "status")
        .order_by()
        .query.sql_with_params()
    )
    sets: dict[str, tuple[str, ...]] = {
        dim: (*keys, "return_reason_code") for dim, keys in _PASS_KEYS.items()
    }
    sets["bucket"] = ("score",)
    first = ", ".join(
        f"COUNT(*) FILTER (WHERE {cond}) AS c_{name}" for name, cond in _OUTCOMES.items()
    )
    second = ", ".join(f"SUM(c_{name})" for name in _OUTCOMES)
    pql_counts = ", ".join(f"COUNT(*) FILTER (WHERE {cond})" for cond in _OUTCOMES.values())
    pql_columns = ", ".join(c if c == "return_reason_code" else "NULL" for c in _GROUPED)
    # Two steps: the handoffs counted per combination of the grouped columns (one hash over
    # the rows, the outcomes as FILTER counts), then the grouping sets over those counts.
    # Grouping sets straight over the rows hash every row once per set.
    sql = (
        f"SELECT GROUPING({', '.join(_GROUPED)}), {', '.join(_GROUPED)}, {second} "
        f"FROM (SELECT lead_source, lead_campaign_id, {slot} AS score, team_id, "
        f"assigned_to_id, return_reason_code, {first} "
        f"FROM ({inner}) AS h({', '.join(_PASS_COLUMNS[:2])}, score_snapshot, "
        f"{', '.join(_PASS_COLUMNS[3:])}) GROUP BY 1, 2, 3, 4, 5, 6) AS c "
        "GROUP BY GROUPING SETS ("
        + ", ".join(f"({', '.join(cols)})" for cols in sets.values())
        + f") UNION ALL SELECT {_PQL_MASK}, {pql_columns}, {pql_counts} "
        f"FROM ({pql}) AS p(return_reason_code, status) GROUP BY return_reason_code"
    )
    # GROUPING(...) has a bit set (first column highest) for each column NOT in the row's set.
    width = len(_GROUPED)
    mask_of = {
        sum(1 << (width - 1 - i) for i, c in enumerate(_GROUPED) if c not in cols): name
        for name, cols in sets.items()
    }
    mask_of[_PQL_MASK] = "pql"
    return sql, [*params, *pql_params], mask_of


def _one_pass(filters: MetricsFilters, thresholds: Sequence[int]) -> dict[str, list[dict]]:
    """Every grouped count of the payload from ONE statement over the handoffs (PostgreSQL):
    GROUP BY GROUPING SETS, one set per dimension (with the return reason) and one per score
    slot (the threshold buckets), with the outcome counts as FILTER clauses, and the PQL
    handoffs by return reason. Returns dimension -> rows shaped as outcomes_by's query rows,
    and "bucket" -> threshold_advisor's rows."""
    sql, params, mask_of = _pass_sql(filters, thresholds)
    bounds = _bounds(thresholds)
    width = len(_GROUPED)
    result: dict[str, list[dict]] = {name: [] for name in mask_of.values()}
    # No savepoint inside a caller's transaction: SET LOCAL lasts until that one ends.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Room to hash the combinations in memory (~15 MB at 1M handoffs) rather than sort
        # them on disk, and no JIT (compiling the statement took longer than it saved); for
        # this transaction only.
        cursor.execute(f"SET LOCAL work_mem = '{PASS_WORK_MEM}'; SET LOCAL jit = off")
        cursor.execute(sql, params)
        for mask, *values in cursor.fetchall():
            row = dict(zip(_GROUPED, values[:width], strict=True))
            row.update(zip(_OUTCOMES, (int(v or 0) for v in values[width:]), strict=True))
            result[mask_of[mask]].append(row)
    _fold_scores(result, bounds, thresholds)
    result["qualification"] = _qualification_rows(result["source"], result.pop("pql"))
    _name_rows(result)
    return result


def _fold_scores(
    result: dict[str, list[dict]], bounds: Sequence[int], thresholds: Sequence[int]
) -> None:
    """Score slots into score bands (outcomes_by's "band") and threshold buckets (the
    advisor's rows), summed."""
    names = tuple(_OUTCOMES)
    bands: dict[tuple, dict[str, Any]] = {}
    for row in result["score_band"]:
        band, _ = _band_and_bucket(row["score"], bounds, thresholds)
        into = bands.setdefault(
            (band, row["return_reason_code"]),
            {"band": band, "return_reason_code": row["return_reason_code"]}
            | dict.fromkeys(names, 0),
        )
        for name in names:
            into[name] += row[name]
    result["score_band"] = list(bands.values())
    buckets: dict[int, dict[str, int]] = {}
    for row in result["bucket"]:
        _, bucket = _band_and_bucket(row["score"], bounds, thresholds)
        into = buckets.setdefault(
            bucket,
            {"bucket": bucket, "sent": 0, "accepted": 0, "qualified": 0, "returned": 0},
        )
        into["sent"] += row["handoffs"]
        for name in ("accepted", "qualified", "returned"):
            into[name] += row[name]
    result["bucket"] = list(buckets.values())


def _qualification_rows(
    every: Sequence[dict[str, Any]], pql: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """outcomes_by("qualification")'s rows: the PQL handoffs by return reason, and the MQLs as
    every handoff (the rows of any one dimension's set, summed by reason) less the PQLs."""
    names = tuple(OUTCOME_COUNTS)
    by_reason: dict[str, dict[str, int]] = {}
    for row in every:
        into = by_reason.setdefault(row["return_reason_code"], dict.fromkeys(names, 0))
        for name in names:
            into[name] += row[name]
    rows = [{**row, "qualification": "pql"} for row in pql]
    for row in pql:
        into = by_reason.setdefault(row["return_reason_code"], dict.fromkeys(names, 0))
        for name in names:
            into[name] -= row[name]
    rows += [
        {"qualification": "mql", "return_reason_code": code, **counts}
        for code, counts in by_reason.items()
        if any(counts.values())
    ]
    return rows


def _name_rows(result: dict[str, list[dict]]) -> None:
    """Add the names _key_and_label reads to the campaign, team and rep rows (a query each)."""
    campaigns = {r["lead_campaign_id"] for r in result["campaign"]} - {None}
    names = dict(Campaign.objects.filter(pk__in=campaigns).values_list("pk", "name"))
    for row in result["campaign"]:
        row["lead_campaign__name"] = names.get(row["lead_campaign_id"])
    teams = {r["team_id"] for r in result["team"]} - {None}
    names = dict(Team.objects.filter(pk__in=teams).values_list("pk", "name"))
    for row in result["team"]:
        row["team__name"] = names.get(row["team_id"])
    reps = {r["assigned_to_id"] for r in result["rep"]} - {None}
    people = {
        pk: (username, first, last)
        for pk, username, first, last in get_user_model()
        .objects.filter(pk__in=reps)
        .values_list("pk", "username", "first_name", "last_name")
    }
    for row in result["rep"]:
        username, first, last = people.get(row["assigned_to_id"], (None, None, None))
        row["assigned_to__username"] = username
        row["assigned_to__first_name"] = first
        row["assigned_to__last_name"] = last


def feedback_metrics(filters: MetricsFilters | None = None) -> dict[str, Any]:
    """Everything the metrics API and the dashboard show, as plain dicts and lists.

    On PostgreSQL the handoffs are read once (_one_pass: every dimension, the reason mix, the
    totals and the threshold buckets from one GROUPING SETS scan); elsewhere each figure runs
    its own query, with the same results."""
    filters = filters or MetricsFilters()
    reasons = _reason_lookup()
    dimensions = (*DIMENSIONS, "qualification")
    if connection.vendor == "postgresql":
        rows = _one_pass(filters, _thresholds())
        by = {dim: _outcomes_from(dim, rows[dim], reasons) for dim in dimensions}
        per_reason: dict[str, int] = defaultdict(int)
        for row in rows["source"]:
            if row["returned"]:
                per_reason[row["return_reason_code"]] += row["returned"]
        mix = _reason_mix_from(
            sorted(per_reason.items(), key=lambda item: (-item[1], item[0])), reasons
        )
        totals = _with_rates(
            {name: sum(row[name] for row in rows["source"]) for name in OUTCOME_COUNTS}
        )
        totals.update(_review_counts(filters))
        advisor = threshold_advisor(filters, bucket_rows=rows["bucket"])
    else:
        by = {dim: outcomes_by(dim, filters, reasons=reasons) for dim in dimensions}
        mix = reason_mix(filters, reasons=reasons)
        totals = outcome_totals(filters)
        advisor = threshold_advisor(filters)
    return {
        "filters": filters.as_dict(),
        "bands": [
            {"key": i, "label": label, "min_score": low}
            for i, (low, label) in enumerate(score_bands())
        ],
        "totals": totals,
        "reason_mix": mix,
        "category_mix": category_mix(mix),
        "by_source": by["source"],
        "by_campaign": by["campaign"],
        "by_score_band": by["score_band"],
        "by_team": by["team"],
        "by_rep": by["rep"],
        "by_qualification": by["qualification"],
        "acceptance_by_score_band": acceptance_by_score_band(rows=by["score_band"]),
        "threshold_advisor": advisor,
    }
