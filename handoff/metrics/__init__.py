"""SLA and funnel metrics for sales managers: four grouped reads, shaped into every figure.

The package, one job per module: `filters` (the date range, date helpers), `outcomes` (SLA
outcomes and compliance), `cohort` (funnel, MQL/PQL, by source), `accepts` (time to accept),
`open_lists` (open breaches and at risk now), `groups` (team and rep tables), `figures`
(sla_metrics: everything at once), `admin_summary` (the admin changelist's summary),
`durations` (percentiles and minute labels).

Definitions (docs/pages.md, "Dashboard", says the same in prose). A date range is two
local dates, both inclusive, in the site's time zone (settings.TIME_ZONE); the default is the
last 8 ISO weeks: Monday seven weeks before this week's Monday, through today.

- Funnel (a cohort of promotions): MQL = handoffs created in the range, reassigned attempts
  left out (the next attempt of the same promotion carries its outcome, as in
  feedback.selectors); SAL = those of them that were accepted (`accepted_at` set, even when
  returned later); SQL = those qualified (`qualified_at` set). Conversion at each step is the
  share of the step before; MQL -> SQL is SQL / MQL. Handoffs still open count in MQL only, so a
  recent range converts less until sales decide.
- SLA compliance: every handoff has at most one SLA outcome, dated when it became known:
  * met at `responded_at`, when sales answered (accepted or returned from pending) at or
    before the deadline and the sweep never flagged a breach;
  * missed at the deadline, when the sweep flagged a breach (`breached_at`, which the sweep
    dates at the deadline), when it was answered after the deadline, when it is still pending
    past its deadline (not yet flagged), or when it was reassigned after its deadline;
  * no outcome (left out) while the deadline is ahead or the clock is paused (waiting for
    marketing), and for a handoff a manager reassigned before its deadline (no answer was
    owed any more; its next attempt has its own deadline).
  Compliance over a range = met / (met + missed) among handoffs whose outcome is dated in the
  range, so each handoff lands in exactly one week of the trend, and a still-open breach counts
  as missed in the week of its deadline. "This week" is the ISO week of `now`.
- Time to accept, for handoffs accepted in the range: wall time = accepted_at - created_at
  minus the time paused waiting for marketing (`paused_seconds_total`); business time =
  `accept_business_minutes`, stored by handoff_accept (the business minutes the accept clock
  ran: window minus what was left, plus what it was late by; pauses excluded). Median and p90
  are continuous percentiles: PostgreSQL's percentile_cont over every accept in the range
  (one GROUPING SETS query for the whole, each team and each rep); on other databases the same
  linear interpolation in Python over the latest 50,000 (the figures then say "sample"). The
  admin summary, over any filtered list, uses percentile_cont in SQL.
- Open breaches now: pending handoffs past their deadline (flagged or not yet). At risk now:
  pending, past the at-risk point, deadline ahead (handoff.filters).
- Per team / per rep: handoffs = attempts assigned in the range (created in it, reassigned ones
  included: the rep had them), accepted (accepted_at set), returned (status returned); compliance
  and median time to accept as above, grouped by the attempt's team / rep; open breaches now.
- Conversion by source: the funnel grouped by `Handoff.lead_source`, the lead's source when it
  was handed over.
Return reasons are feedback.selectors.reason_mix (the feedback app owns reasons).
"""

from __future__ import annotations

from core.timefmt import day_start, minutes_label
from handoff.metrics.accepts import accept_times
from handoff.metrics.admin_summary import summary
from handoff.metrics.cohort import FUNNEL_COUNTS, FUNNEL_KINDS
from handoff.metrics.durations import (
    ACCEPT_ROWS_LIMIT,
    PercentileCont,
    has_percentile_cont,
    percentile_cont,
)
from handoff.metrics.figures import (
    by_group,
    compliance,
    conversion_by_source,
    funnel,
    funnel_by_kind,
    sla_metrics,
    weekly_compliance,
)
from handoff.metrics.filters import (
    DEFAULT_WEEKS,
    MAX_RANGE_DAYS,
    SlaFilters,
    local_today,
    week_start,
)
from handoff.metrics.open_lists import OPEN_LIST_SIZE, open_now
from handoff.metrics.outcomes import (
    UNFLAGGED_LIMIT,
    met_q,
    missed_q,
    open_breach_q,
    outcome_at,
)

__all__ = [
    "ACCEPT_ROWS_LIMIT",
    "DEFAULT_WEEKS",
    "FUNNEL_COUNTS",
    "FUNNEL_KINDS",
    "MAX_RANGE_DAYS",
    "OPEN_LIST_SIZE",
    "UNFLAGGED_LIMIT",
    "PercentileCont",
    "SlaFilters",
    "accept_times",
    "by_group",
    "compliance",
    "conversion_by_source",
    "day_start",
    "funnel",
    "funnel_by_kind",
    "has_percentile_cont",
    "local_today",
    "met_q",
    "minutes_label",
    "missed_q",
    "open_breach_q",
    "open_now",
    "outcome_at",
    "percentile_cont",
    "sla_metrics",
    "summary",
    "week_start",
    "weekly_compliance",
]
