"""Feedback pieces the project's handoff and lead pages pull in: the return form with its
reason picker, the earlier returns of a handoff's lead, and a lead's returns with marketing's
replies. Template tags keep the Python imports one way (feedback -> handoff -> leads): the
handoff views never import feedback; the templates compose the two apps."""

from __future__ import annotations

from typing import Any

from django import template

from feedback import contradictions, selectors
from feedback.forms import ReturnForm
from feedback.models import ReturnFeedback
from handoff.models import Handoff
from handoff.views.support import seen_token
from leads.models import Lead

register = template.Library()


@register.inclusion_tag("feedback/_return_panel.html", takes_context=True)
def return_panel(context: template.Context, handoff: Handoff) -> dict[str, Any]:
    """The return form; a bound one with errors when the view put `return_form` in the page."""
    form = context.get("return_form")
    if form is None:
        form = ReturnForm(initial={"seen": seen_token(handoff)}, reasons=selectors.active_reasons())
    return {
        "handoff": handoff,
        "form": form,
        "csrf_token": context.get("csrf_token"),
        "open": bool(form.errors),
        "contradicting": contradictions.reasons_contradicting(handoff),
    }


@register.inclusion_tag("feedback/_previous_returns.html")
def previous_returns(handoff: Handoff) -> dict[str, Any]:
    """Earlier returns of this lead, with reasons, notes and marketing's replies (one query)."""
    return {"returns": selectors.previous_returns(handoff=handoff)}


@register.inclusion_tag("feedback/_lead_returns.html")
def lead_returns(lead: Lead) -> dict[str, Any]:
    """Every return of a lead, newest first, with what marketing did about it (one query)."""
    rows = (
        ReturnFeedback.objects.filter(lead=lead)
        .select_related("reason", "returned_by", "acknowledged_by", "handoff")
        .order_by("-returned_at", "-id")
    )
    return {"returns": list(rows)}


@register.filter
def signed(value: Any) -> str:
    """A change with its sign (+3, -2, 0); a dash when unknown."""
    if value is None:
        return "n/a"
    return f"{value:+d}" if isinstance(value, int) else f"{value:+.1%}"
