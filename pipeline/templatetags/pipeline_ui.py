"""The opportunity panel of the handoff page. A template tag keeps the Python imports one way
(pipeline -> handoff): the handoff views never import pipeline; the template composes them."""

from __future__ import annotations

from typing import Any

from django import template

from handoff.models import Handoff
from handoff.states import Status
from pipeline import selectors, services
from pipeline.forms import LoseForm, OpenForm, UpdateForm, WinForm
from pipeline.states import Stage

register = template.Library()


@register.inclusion_tag("pipeline/_opportunity_panel.html", takes_context=True)
def opportunity_panel(context: template.Context, handoff: Handoff) -> dict[str, Any]:
    user = context.get("user")
    opportunities = selectors.opportunities_of_handoff(handoff=handoff)
    has_open = any(o.stage == Stage.OPEN for o in opportunities)
    can_open = (
        handoff.status == Status.QUALIFIED
        and not has_open
        and handoff.lead.stage == "sql"
        and services.can_open_from(handoff, user)
    )
    rows = [
        {
            "opportunity": o,
            "can_work": o.stage == Stage.OPEN and services.can_work(o, user),
            "update_form": UpdateForm(
                initial={"amount": o.amount, "expected_close_date": o.expected_close_date},
                auto_id=f"id_upd{o.pk}_%s",
            ),
            "win_form": WinForm(auto_id=f"id_win{o.pk}_%s"),
            "lose_form": LoseForm(auto_id=f"id_lose{o.pk}_%s"),
        }
        for o in opportunities
    ]
    return {
        "handoff": handoff,
        "rows": rows,
        "can_open": can_open,
        "open_form": OpenForm(auto_id="id_open_%s") if can_open else None,
        "csrf_token": context.get("csrf_token"),
        "show": bool(rows) or can_open,
    }
