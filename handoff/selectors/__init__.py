"""Reads of the handoff app, one job per module:

- ``calendars``: business calendars as sla.Calendar (cached), the calendar a handoff runs on;
- ``lists``: who sees which handoff, the list and detail querysets, search, the manager's queue;
- ``action``: the handoff an action is taken on (a compiled read);
- ``attempts``: the chain of attempts, how each ended, why a handoff waits unassigned;
- ``sla_clock``: a handoff's SLA clocks (time left / late by) and their words;
- ``permissions``: who may act on a handoff (the services' rules, for the pages);
- ``promotion``: whether a lead can be promoted now (the guards, the lead pages' reason);
- ``accounts``: the lead's account as the preview tells it;
- ``preview``: what a promotion would do now.

The names below are the package's public reads; import them from ``handoff.selectors``.
"""

from handoff.selectors.accounts import account_preview, user_ref
from handoff.selectors.action import _action_queryset as _action_queryset
from handoff.selectors.action import handoff_for_action
from handoff.selectors.attempts import (
    DEFAULT_REASSIGN_REASON,
    attempt_chain,
    escalation_reason,
    reassignment_endings,
    unassigned_reasons,
)
from handoff.selectors.calendars import (
    ALWAYS_OPEN,
    DEFAULT_EXTRA_DAY,
    calendar_by_id,
    calendar_for,
    handoff_calendar,
)
from handoff.selectors.lists import (
    EVENTS,
    LIST_ROW_FIELDS,
    LIST_ROW_VALUES,
    handoff_detail_queryset,
    handoff_get_visible,
    handoff_list,
    handoff_list_rows,
    handoff_with_fresh_events,
    handoffs_matching,
    handoffs_visible_to,
    manager_queue,
    open_handoff_of,
)
from handoff.selectors.permissions import can_answer, can_work_on
from handoff.selectors.preview import promotion_preview
from handoff.selectors.promotion import (
    history_block,
    last_return_at,
    lead_history,
    lead_promotion_block,
    promotion_block,
    stage_block,
)
from handoff.selectors.sla_clock import (
    Clock,
    accept_clock,
    accept_clock_of,
    accept_clock_of_values,
    clock_label,
    clock_words,
    first_touch_clock,
)

__all__ = [
    "ALWAYS_OPEN",
    "DEFAULT_EXTRA_DAY",
    "DEFAULT_REASSIGN_REASON",
    "EVENTS",
    "LIST_ROW_FIELDS",
    "LIST_ROW_VALUES",
    "Clock",
    "accept_clock",
    "accept_clock_of",
    "accept_clock_of_values",
    "account_preview",
    "attempt_chain",
    "calendar_by_id",
    "calendar_for",
    "can_answer",
    "can_work_on",
    "clock_label",
    "clock_words",
    "escalation_reason",
    "first_touch_clock",
    "handoff_calendar",
    "handoff_detail_queryset",
    "handoff_for_action",
    "handoff_get_visible",
    "handoff_list",
    "handoff_list_rows",
    "handoff_with_fresh_events",
    "handoffs_matching",
    "handoffs_visible_to",
    "history_block",
    "last_return_at",
    "lead_history",
    "lead_promotion_block",
    "manager_queue",
    "open_handoff_of",
    "promotion_block",
    "promotion_preview",
    "reassignment_endings",
    "stage_block",
    "unassigned_reasons",
    "user_ref",
]
