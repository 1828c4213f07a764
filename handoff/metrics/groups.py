"""The per-team and per-rep tables: handoffs, accepted, returned, compliance, median time to
accept and open breaches, from the reads of the other modules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth import get_user_model

from handoff.metrics.accepts import Accepts
from handoff.metrics.cohort import summed
from handoff.metrics.filters import rate
from handoff.metrics.outcomes import Outcomes
from handoff.models import Team

GROUP_KEYS = {"team": ("team_id", 2), "rep": ("assigned_to_id", 3)}


def _labels(dimension: str, keys: set[Any]) -> dict[Any, str]:
    """Team names or rep names of the keys (one query)."""
    if dimension == "team":
        names = dict(Team.objects.filter(pk__in=keys - {None}).values_list("pk", "name"))
        return {key: names.get(key, "No team") for key in keys}
    users = {
        pk: (f"{first} {last}".strip() or username)
        for pk, username, first, last in get_user_model()
        .objects.filter(pk__in=keys - {None})
        .values_list("pk", "username", "first_name", "last_name")
    }
    return {key: users.get(key, "Unassigned (manager's queue)") for key in keys}


def groups_from(
    dimension: str,
    cohort: Sequence[Mapping[str, Any]],
    outcomes: Outcomes,
    accepts: Accepts,
    open_rows: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The team or rep table from the four reads (plus one query for the names)."""
    field_name, outcome_index = GROUP_KEYS[dimension]
    attempts = summed(cohort, field_name)
    outcome: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in outcomes.rows:
        if row[1]:
            outcome[row[outcome_index]][0] += row[4]
            outcome[row[outcome_index]][1] += row[5]
    medians = accepts.medians[dimension]
    breaches = summed(open_rows, field_name)
    keys = (
        set(attempts)
        | set(outcome)
        | set(medians)
        | {k for k, v in breaches.items() if v.get("breached")}
    )
    labels = _labels(dimension, keys)
    result = []
    for key in keys:
        met, due = outcome.get(key, (0, 0))
        counts = attempts.get(key, {})
        result.append(
            {
                "key": key,
                "label": labels[key],
                "handoffs": counts.get("attempts", 0),
                "accepted": counts.get("attempts_accepted", 0),
                "returned": counts.get("returned", 0),
                "met": met,
                "missed": due - met,
                "compliance": rate(met, due),
                "median_minutes_to_accept": medians.get(key, (None, None))[0],
                "median_business_minutes_to_accept": medians.get(key, (None, None))[1],
                "open_breaches": breaches.get(key, {}).get("breached", 0),
            }
        )
    return sorted(result, key=lambda r: (-r["handoffs"], -r["open_breaches"], str(r["label"])))
