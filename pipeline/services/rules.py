"""The opportunity services' input rules (amounts, currencies, score bands) and who may act."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry
from django.conf import settings

from core.errors import Forbidden, ValidationFailed
from core.roles import is_manager, is_rep
from core.types import Actor
from handoff.models import Handoff
from leads.selectors import score_bands
from pipeline.models import Opportunity

LEAD_EFFECTS = ("recycle", "disqualify")
MAX_AMOUNT = Decimal("999999999999.99")
UNSET: Any = object()


# --- input rules ------------------------------------------------------------------------------


def clean_amount(raw: Any, *, field: str = "amount") -> Decimal:
    """A money amount: a finite number >= 0 with at most 2 decimals (strings or numbers)."""
    if raw is None or isinstance(raw, bool) or raw == "":
        raise ValidationFailed("Give an amount.", code="amount_required", field=field)
    try:
        value = Decimal(str(raw).strip()) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} must be a number.", code="invalid", field=field) from None
    if not value.is_finite():
        raise ValidationFailed(f"{field} must be a finite number.", code="invalid", field=field)
    if value < 0:
        raise ValidationFailed(f"{field} must be 0 or more.", code="invalid", field=field)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise ValidationFailed(
            f"{field} has more than 2 decimal places.", code="invalid", field=field
        )
    if value > MAX_AMOUNT:
        raise ValidationFailed(f"{field} is too large.", code="invalid", field=field)
    return value.quantize(Decimal("0.01"))


def clean_currency(raw: Any, *, field: str = "currency") -> str:
    """An ISO 4217 code; empty means the company currency (settings.DEFAULT_CURRENCY)."""
    if raw is None or raw == "":
        return str(settings.DEFAULT_CURRENCY)
    code = str(raw).strip().upper()
    if len(code) != 3 or not code.isalpha() or pycountry.currencies.get(alpha_3=code) is None:
        raise ValidationFailed(
            f"{raw!r} is not an ISO 4217 currency code (e.g. USD, EUR).",
            code="invalid_currency",
            field=field,
        )
    return code


def score_band_label(score: int) -> str:
    """The score band (settings.FEEDBACK_SCORE_BANDS) a score falls in."""
    bands = score_bands()
    label = bands[0][1]
    for low, name in bands:
        if score >= low:
            label = name
    return label


# --- permissions ------------------------------------------------------------------------------


def can_work(opportunity: Opportunity, actor: Actor | None) -> bool:
    """The opportunity's rep and managers act on it."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return is_manager(actor) or (is_rep(actor) and opportunity.owner_id == actor.pk)


def can_open_from(handoff: Handoff, actor: Actor | None) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return is_manager(actor) or (is_rep(actor) and handoff.assigned_to_id == actor.pk)


def _require(allowed: bool, verb: str) -> None:
    if not allowed:
        raise Forbidden(f"Only the opportunity's rep or a sales manager can {verb} it.")
