"""Every write to opportunities, one job per module:

- `rules`: the input rules (amounts, currencies, score bands) and who may act;
- `transitions`: open, update, win and lose (`opportunity_open`, ...);
- `sync`: the CRM sync (`opportunities_sync`, `opportunity_sync_one`).

The public names are re-exported here: `from pipeline import services`,
`services.opportunity_open(...)`.
"""

from pipeline.services.rules import (
    LEAD_EFFECTS,
    MAX_AMOUNT,
    UNSET,
    can_open_from,
    can_work,
    clean_amount,
    clean_currency,
    score_band_label,
)
from pipeline.services.sync import (
    SYNC_FIELDS,
    RowError,
    SyncOutcome,
    opportunities_sync,
    opportunity_sync_one,
)
from pipeline.services.transitions import (
    WEBHOOK_TYPES,
    lost_reason_for,
    opportunity_lose,
    opportunity_open,
    opportunity_update,
    opportunity_win,
)

__all__ = [
    "LEAD_EFFECTS",
    "MAX_AMOUNT",
    "SYNC_FIELDS",
    "UNSET",
    "WEBHOOK_TYPES",
    "RowError",
    "SyncOutcome",
    "can_open_from",
    "can_work",
    "clean_amount",
    "clean_currency",
    "lost_reason_for",
    "opportunities_sync",
    "opportunity_lose",
    "opportunity_open",
    "opportunity_sync_one",
    "opportunity_update",
    "opportunity_win",
    "score_band_label",
]
