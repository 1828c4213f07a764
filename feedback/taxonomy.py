"""The default rejection-reason taxonomy: what sales may say when it returns a lead.

Seeded by migration 0004 (a frozen copy) so that a fresh install can return leads at once, and
by the demo; managers edit reasons in the admin afterwards. `ensure_default_reasons` only adds
missing codes, so an admin's edits are never overwritten.
"""

from __future__ import annotations

from typing import Any, TypedDict


class ReasonSpec(TypedDict):
    code: str
    label: str
    category: str
    note_required: bool
    effect: str
    recycle_days: int
    display_order: int


DEFAULT_REASONS: list[ReasonSpec] = [
    # Fit: the scoring gave points it should not have; the note says which rule was wrong.
    {"code": "not-icp", "label": "Not our ICP", "category": "fit", "note_required": True,
     "effect": "disqualify", "recycle_days": 0, "display_order": 10},
    {"code": "no-budget", "label": "No budget", "category": "fit", "note_required": False,
     "effect": "recycle", "recycle_days": 90, "display_order": 20},
    {"code": "no-authority", "label": "No authority (wrong person)", "category": "fit",
     "note_required": True, "effect": "recycle", "recycle_days": 30, "display_order": 30},
    {"code": "not-ready", "label": "Not ready yet", "category": "timing", "note_required": False,
     "effect": "recycle", "recycle_days": 60, "display_order": 40},
    {"code": "bad-data", "label": "Bad contact data", "category": "data_quality",
     "note_required": True, "effect": "recycle", "recycle_days": 14, "display_order": 50},
    {"code": "duplicate", "label": "Duplicate of another lead", "category": "duplicate",
     "note_required": True, "effect": "disqualify", "recycle_days": 0, "display_order": 60},
    {"code": "existing-customer", "label": "Already a customer", "category": "duplicate",
     "note_required": False, "effect": "disqualify", "recycle_days": 0, "display_order": 70},
    {"code": "competitor", "label": "Competitor", "category": "fit", "note_required": False,
     "effect": "disqualify", "recycle_days": 0, "display_order": 80},
    {"code": "student", "label": "Student / job seeker", "category": "fit",
     "note_required": False, "effect": "disqualify", "recycle_days": 0, "display_order": 90},
    {"code": "spam", "label": "Spam or fake sign-up", "category": "data_quality",
     "note_required": False, "effect": "disqualify", "recycle_days": 0, "display_order": 100},
]  # fmt: skip


def ensure_default_reasons(reason_model: Any) -> int:
    """Create the default reasons that are missing (by code); return how many were created."""
    existing = set(reason_model.objects.values_list("code", flat=True))
    missing = [reason_model(**spec) for spec in DEFAULT_REASONS if spec["code"] not in existing]
    reason_model.objects.bulk_create(missing)
    return len(missing)
