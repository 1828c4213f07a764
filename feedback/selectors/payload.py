"""The whole feedback metrics payload (the metrics API, the report): every table at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from feedback import rollup
from feedback.selectors.advisor import _thresholds, threshold_advisor
from feedback.selectors.filters import MetricsFilters
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
)
from handoff.models import Team
from leads.models import Campaign
from leads.selectors import score_bands

# --- the whole payload from the rollup ----------------------------------------------------------

# Each figure's grouping set over the rollup's combinations (ids only: names are looked up
# afterwards for the few keys found); the return reason is in every set, for the reason mixes.
_SETS = {
    "source": ("lead_source", "return_reason_code"),
    "campaign": ("lead_campaign_id", "return_reason_code"),
    "team": ("team_id", "return_reason_code"),
    "rep": ("assigned_to_id", "return_reason_code"),
    "qualification": ("pql", "return_reason_code"),
}
_SCORE_SET = ("score", "return_reason_code")  # from the rollup's by-score rows
_SCORE_MASK = -1  # the by-score rows' mark in the statement's GROUPING column
PASS_WORK_MEM = "64MB"
_OUTCOMES = rollup.COUNTS  # the outcome counts, in the order the pass selects them
_KEYS = tuple(k for k in rollup.KEYS if k != "score")


def _parts(filters: MetricsFilters) -> tuple[tuple[str, list[Any]], tuple[str, list[Any]]]:
    """The combinations by every key but the score, and by score and reason (SQL, params)."""
    start, end = rollup.range_of(filters.date_from, filters.date_to)
    f = filters
    return (
        rollup.combination_sql(
            start=start, end=end, team=f.team, source=f.source, campaign=f.campaign, keys=_KEYS
        ),
        rollup.combination_sql(
            start=start,
            end=end,
            team=f.team,
            source=f.source,
            campaign=f.campaign,
            keys=_SCORE_SET,
            kind=rollup.BY_SCORE,
        ),
    )


def _pass_sql(filters: MetricsFilters) -> tuple[str, list[Any], dict[int, str]]:
    """The one statement (PostgreSQL), its parameters and GROUPING mask -> set name: the
    handoffs' combinations (the rollup's whole months and the edge days raw,
    rollup.combination_sql) under one GROUP BY GROUPING SETS, UNION ALL the counts by score
    and reason."""
    (inner, params), (by_score, score_params) = _parts(filters)
    sums = ", ".join(f'SUM(c."{name}")' for name in _OUTCOMES)
    nulls = ", ".join(
        "s.score" if k == "score" else "s.return_reason_code" if k in _SCORE_SET else "NULL"
        for k in rollup.KEYS
    )
    keys = ", ".join("NULL" if k == "score" else k for k in rollup.KEYS)
    sql = (
        f"SELECT GROUPING({', '.join(_KEYS)}), {keys}, {sums} FROM ({inner}) AS c "
        "GROUP BY GROUPING SETS ("
        + ", ".join(f"({', '.join(cols)})" for cols in _SETS.values())
        + f") UNION ALL SELECT {_SCORE_MASK}, {nulls}, "
        + ", ".join(f's."{name}"' for name in _OUTCOMES)
        + f" FROM ({by_score}) AS s"
    )
    # GROUPING(...) has a bit set (first column highest) for each column NOT in the row's set.
    width = len(_KEYS)
    mask_of = {
        sum(1 << (width - 1 - i) for i, c in enumerate(_KEYS) if c not in cols): name
        for name, cols in _SETS.items()
    }
    mask_of[_SCORE_MASK] = "score_band"
    return sql, [*params, *score_params], mask_of


def _grouped(filters: MetricsFilters) -> dict[str, list[dict[str, Any]]]:
    """set name -> rows (the set's columns and the outcome counts), from the rollup."""
    rollup.compact()
    keys = rollup.KEYS
    result: dict[str, list[dict[str, Any]]] = {name: [] for name in (*_SETS, "score_band")}
    if connection.vendor == "postgresql":
        sql, params, mask_of = _pass_sql(filters)
        # No savepoint inside a caller's transaction: SET LOCAL lasts until that one ends.
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            # Room to hash the combinations in memory, and no JIT (compiling the statement
            # took longer than it saved); for this transaction only.
            cursor.execute(f"SET LOCAL work_mem = '{PASS_WORK_MEM}'; SET LOCAL jit = off")
            cursor.execute(sql, params)
            for mask, *values in cursor.fetchall():
                row = dict(zip(keys, values[: len(keys)], strict=True))
                row.update(zip(_OUTCOMES, (int(v or 0) for v in values[len(keys) :]), strict=True))
                result[mask_of[mask]].append(row)
        return result
    # SQLite: the same sets, summed here over the combinations (two statements).
    (sql, params), (by_score, score_params) = _parts(filters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        combinations = cursor.fetchall()
        cursor.execute(by_score, score_params)
        result["score_band"] = [
            {**dict(zip(_SCORE_SET, row[:2], strict=True)),
             **dict(zip(_OUTCOMES, (int(v or 0) for v in row[2:]), strict=True))}
            for row in cursor.fetchall()
        ]  # fmt: skip
    for name, cols in _SETS.items():
        at = [_KEYS.index(c) for c in cols]
        sums: dict[tuple, list[int]] = {}
        for combination in combinations:
            into = sums.setdefault(tuple(combination[i] for i in at), [0] * len(_OUTCOMES))
            for j, value in enumerate(combination[len(_KEYS) :]):
                into[j] += int(value or 0)
        result[name] = [
            {**dict(zip(cols, key, strict=True)), **dict(zip(_OUTCOMES, counts, strict=True))}
            for key, counts in sums.items()
        ]
    return result


def _band_of(score: int) -> int:
    """The score band index of a score (as score_band_expression)."""
    return max((i for i, (low, _) in enumerate(score_bands()) if score >= low), default=0)


def _from_rollup(filters: MetricsFilters, thresholds: Sequence[int]) -> dict[str, list[dict]]:
    """Every grouped count of the payload: dimension -> rows shaped as outcomes_by's query
    rows, and "bucket" -> threshold_advisor's rows."""
    result = _grouped(filters)
    names = tuple(_OUTCOMES)
    bands: dict[tuple, dict[str, Any]] = {}
    buckets: dict[int, dict[str, int]] = {}
    for row in result["score_band"]:
        band = _band_of(row["score"])
        into = bands.setdefault(
            (band, row["return_reason_code"]),
            {"band": band, "return_reason_code": row["return_reason_code"]}
            | dict.fromkeys(names, 0),
        )
        for name in names:
            into[name] += row[name]
        bucket = max((t for t in thresholds if row["score"] >= t), default=-1)
        counts = buckets.setdefault(
            bucket, {"bucket": bucket, "sent": 0, "accepted": 0, "qualified": 0, "returned": 0}
        )
        counts["sent"] += row["handoffs"]
        for name in ("accepted", "qualified", "returned"):
            counts[name] += row[name]
    result["score_band"] = list(bands.values())
    result["bucket"] = [b for b in buckets.values() if b["sent"]]
    result["qualification"] = [
        {
            **{k: v for k, v in row.items() if k != "pql"},
            "qualification": "pql" if row["pql"] else "mql",
        }
        for row in result["qualification"]
        if row["handoffs"]
    ]
    for name in ("source", "campaign", "score_band", "team", "rep"):
        result[name] = [row for row in result[name] if row["handoffs"]]
    _name_rows(result)
    return result


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

    The handoffs' counts come from the feedback rollup (feedback.rollup: whole months of the
    range from the rollup, edge days raw, in one statement; PostgreSQL groups every figure in
    it with GROUPING SETS); the per-figure functions (outcomes_by, outcome_totals, ...) still
    read the raw handoffs, with the same results."""
    filters = filters or MetricsFilters()
    reasons = _reason_lookup()
    dimensions = (*DIMENSIONS, "qualification")
    rows = _from_rollup(filters, _thresholds())
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
