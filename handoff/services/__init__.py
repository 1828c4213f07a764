"""Every write to handoffs: keyword-only functions, atomic, taking `now`. One job per module:

- promotion.py: marketing hands a lead to sales (`handoff_promote`)
- transitions.py: the rep's moves and the one claim they share (`handoff_accept`,
  `handoff_request_info`, `handoff_provide_info`, `handoff_log_first_touch`, `handoff_qualify`)
- returns.py: back to marketing (`handoff_return`), a disqualified lead reopened (`lead_reopen`)
- reassignment.py: another rep, by a manager or the sweep (`handoff_reassign`)
- configuration.py: SLA policies and calendars (`sla_policy_save`, `calendar_touch`)
- _common.py, _lead_moves.py, _routing.py: pieces the modules above share (private)

Lock order, kept by every service here: handoff rows, then the team row (rotation), then
membership rows (capacity), then the lead row (stage). Slow pure work (business-time arithmetic)
happens before the transaction opens, so row locks are held for a few statements only.
Notifications are outbox rows written in the same transaction and sent by a task queued on
commit (handoff.notifications.notify).

Callers keep `from handoff import services; services.handoff_accept(...)`: the public names are
re-exported below. The reads the pages and the API share with the services live in
handoff.selectors and handoff.availability; their names are kept here for existing callers.
"""

from handoff.availability import nobody_available_message, reassign_preview
from handoff.selectors import lead_promotion_block, promotion_block, promotion_preview
from handoff.services.configuration import calendar_touch, sla_policy_save
from handoff.services.promotion import (
    CONTEXT_NOTE_MIN_CHARS,
    ENGAGEMENT_SNAPSHOT_SIZE,
    handoff_promote,
)
from handoff.services.reassignment import handoff_reassign
from handoff.services.returns import (
    DEFAULT_RECYCLE_DAYS,
    LEAD_EFFECTS,
    handoff_return,
    lead_reopen,
)
from handoff.services.transitions import (
    BANT_FIELDS,
    BANT_MAX_LENGTH,
    FIRST_TOUCH_CHANNELS,
    handoff_accept,
    handoff_log_first_touch,
    handoff_provide_info,
    handoff_qualify,
    handoff_request_info,
)

__all__ = [
    "BANT_FIELDS",
    "BANT_MAX_LENGTH",
    "CONTEXT_NOTE_MIN_CHARS",
    "DEFAULT_RECYCLE_DAYS",
    "ENGAGEMENT_SNAPSHOT_SIZE",
    "FIRST_TOUCH_CHANNELS",
    "LEAD_EFFECTS",
    "calendar_touch",
    "handoff_accept",
    "handoff_log_first_touch",
    "handoff_promote",
    "handoff_provide_info",
    "handoff_qualify",
    "handoff_reassign",
    "handoff_request_info",
    "handoff_return",
    "lead_promotion_block",
    "lead_reopen",
    "nobody_available_message",
    "promotion_block",
    "promotion_preview",
    "reassign_preview",
    "sla_policy_save",
]
