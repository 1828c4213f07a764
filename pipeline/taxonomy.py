"""The default lost-reason taxonomy: why a deal was lost, in categories marketing can act on.

Seeded by migration 0001 (a frozen copy) and by the demo; managers edit reasons in the admin
afterwards. `ensure_default_lost_reasons` only adds missing codes.
"""

from __future__ import annotations

from typing import Any, TypedDict


class LostReasonSpec(TypedDict):
    code: str
    label: str
    category: str
    display_order: int


DEFAULT_LOST_REASONS: list[LostReasonSpec] = [
    {"code": "price", "label": "Price too high", "category": "price", "display_order": 10},
    {"code": "budget-cut", "label": "Budget cut", "category": "price", "display_order": 20},
    {"code": "competitor", "label": "Chose a competitor", "category": "competition", "display_order": 30},
    {"code": "status-quo", "label": "Kept the status quo", "category": "no_decision", "display_order": 40},
    {"code": "went-dark", "label": "Stopped answering", "category": "no_decision", "display_order": 50},
    {"code": "bad-timing", "label": "Not the right time", "category": "timing", "display_order": 60},
    {"code": "missing-feature", "label": "Missing feature", "category": "product", "display_order": 70},
    {"code": "poor-fit", "label": "Poor fit after all", "category": "fit", "display_order": 80},
    {"code": "other", "label": "Other", "category": "other", "display_order": 90},
]  # fmt: skip


def ensure_default_lost_reasons(reason_model: Any) -> int:
    existing = set(reason_model.objects.values_list("code", flat=True))
    missing = [
        reason_model(**spec) for spec in DEFAULT_LOST_REASONS if spec["code"] not in existing
    ]
    reason_model.objects.bulk_create(missing)
    return len(missing)
