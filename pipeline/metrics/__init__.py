"""Revenue metrics of a promotion cohort, one job per module:

- `filters`: the cohort's filters (`RevenueFilters`, the default range) and the rows they select;
- `rolled`: the revenue rollup read per table (slices, histograms, percentiles);
- `tables`: the answer's tables (`revenue_metrics`, `by_dimension`, `other_currencies`, `money`);
- `deals`: figures read from the deals themselves (won in a range, by source, the open pipeline,
  lost reasons) and the threshold advisor's counts;
- `shape`: the documented shape of the answer (serializers for the schema).

The public names are re-exported here: `from pipeline.metrics import revenue_metrics`.
"""

from pipeline.metrics.deals import (
    advisor_counts,
    lost_reasons_by,
    open_pipeline,
    won_by_score_threshold,
    won_by_source,
    won_in_range,
)
from pipeline.metrics.filters import (
    PARAMETERS,
    RevenueFilters,
    cohort_handoffs,
    cohort_opportunities,
    default_range,
    quarter_start,
)
from pipeline.metrics.rolled import DURATION_NAMES, SLICE_OF, histogram_percentile, percentile
from pipeline.metrics.shape import (
    RevenueMetricsSerializer,
    RevenuePercentiles,
    RevenueRowSerializer,
    TimeToConversion,
)
from pipeline.metrics.tables import (
    CENT,
    DIMENSIONS,
    NO_LABEL,
    QUALIFICATION_LABELS,
    as_of,
    by_dimension,
    money,
    other_currencies,
    revenue_metrics,
)

__all__ = [
    "CENT",
    "DIMENSIONS",
    "DURATION_NAMES",
    "NO_LABEL",
    "PARAMETERS",
    "QUALIFICATION_LABELS",
    "SLICE_OF",
    "RevenueFilters",
    "RevenueMetricsSerializer",
    "RevenuePercentiles",
    "RevenueRowSerializer",
    "TimeToConversion",
    "advisor_counts",
    "as_of",
    "by_dimension",
    "cohort_handoffs",
    "cohort_opportunities",
    "default_range",
    "histogram_percentile",
    "lost_reasons_by",
    "money",
    "open_pipeline",
    "other_currencies",
    "percentile",
    "quarter_start",
    "revenue_metrics",
    "won_by_score_threshold",
    "won_by_source",
    "won_in_range",
]
