"""Every non-trivial read of the feedback app, one job per module:

- `queue`: marketing's review queue, the managers' disputes, a lead's earlier returns;
- `filters`: the analytics' filters (`MetricsFilters`) and the handoffs they select;
- `outcomes`: outcomes, rates and reason mixes by dimension, the reason mix, the totals;
- `advisor`: the MQL threshold advisor;
- `payload`: the whole metrics payload (`feedback_metrics`) the API and the report read.

The public names are re-exported here: `from feedback.selectors import feedback_metrics`.
"""

from feedback.selectors.advisor import (
    REVENUE_RULE,
    THRESHOLD_RULE,
    _raw_buckets,
    _won_by_threshold,
    threshold_advisor,
)
from feedback.selectors.filters import (
    ACCEPTED_OUTCOME,
    OPEN_OUTCOME,
    MetricsFilters,
    handoffs_for_metrics,
)
from feedback.selectors.outcomes import (
    DIMENSIONS,
    OUTCOME_COUNTS,
    QUALIFICATION_LABELS,
    acceptance_by_score_band,
    category_mix,
    outcome_totals,
    outcomes_by,
    raw_reason_mix,
    reason_mix,
    score_band_expression,
)
from feedback.selectors.payload import feedback_metrics
from feedback.selectors.queue import (
    active_reasons,
    feedback_disputes,
    feedback_disputes_resolved,
    feedback_queryset,
    feedback_queue,
    feedback_visible_to,
    previous_returns,
)

__all__ = [
    "ACCEPTED_OUTCOME",
    "DIMENSIONS",
    "OPEN_OUTCOME",
    "OUTCOME_COUNTS",
    "QUALIFICATION_LABELS",
    "REVENUE_RULE",
    "THRESHOLD_RULE",
    "MetricsFilters",
    "_raw_buckets",
    "_won_by_threshold",
    "acceptance_by_score_band",
    "active_reasons",
    "category_mix",
    "feedback_disputes",
    "feedback_disputes_resolved",
    "feedback_metrics",
    "feedback_queryset",
    "feedback_queue",
    "feedback_visible_to",
    "handoffs_for_metrics",
    "outcome_totals",
    "outcomes_by",
    "previous_returns",
    "raw_reason_mix",
    "reason_mix",
    "score_band_expression",
    "threshold_advisor",
]
