"""The opportunity actions of the handoff page: thin POST views calling one service each.

Errors come back to the handoff page as a message naming the field or the state; nothing is
written.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.pages import perform
from handoff.selectors import handoff_for_action
from pipeline import selectors, services
from pipeline.forms import LoseForm, OpenForm, UpdateForm, WinForm
from pipeline.models import Opportunity


def _back(handoff_id: int) -> HttpResponse:
    return redirect(reverse("handoff:handoff-detail", args=[handoff_id]) + "#opportunity")


def _refuse(request: HttpRequest, form: forms.Form, handoff_id: int) -> HttpResponse:
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))
    return _back(handoff_id)


def _visible(request: HttpRequest, pk: int) -> Opportunity:
    opportunity = selectors.opportunity_for_action(user=request.user, pk=pk)
    if opportunity is None:
        raise Http404("No such opportunity.")
    return opportunity


@login_required
@require_POST
def opportunity_open(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = handoff_for_action(user=request.user, pk=pk)
    if handoff is None:
        raise Http404("No such handoff.")
    form = OpenForm(request.POST)
    if not form.is_valid():
        return _refuse(request, form, pk)
    data = form.cleaned_data
    done = perform(
        request,
        lambda: services.opportunity_open(
            handoff=handoff,
            actor=request.user,
            amount=data["amount"],
            currency=data["currency"],
            expected_close_date=data["expected_close_date"],
        ),
    )
    if done is not None:
        messages.success(request, f"Opportunity #{done.pk} opened: {done.amount} {done.currency}.")
    return _back(pk)


@login_required
@require_POST
def opportunity_update(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = _visible(request, pk)
    form = UpdateForm(request.POST)
    if not form.is_valid():
        return _refuse(request, form, opportunity.handoff_id)
    done = perform(
        request,
        lambda: services.opportunity_update(
            opportunity=opportunity, actor=request.user, **form.cleaned_data
        ),
    )
    if done is not None:
        messages.success(request, f"Opportunity #{pk} updated.")
    return _back(opportunity.handoff_id)


@login_required
@require_POST
def opportunity_win(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = _visible(request, pk)
    form = WinForm(request.POST)
    if not form.is_valid():
        return _refuse(request, form, opportunity.handoff_id)
    done = perform(
        request,
        lambda: services.opportunity_win(
            opportunity=opportunity, actor=request.user, amount=form.cleaned_data["amount"]
        ),
    )
    if done is not None:
        messages.success(request, f"Won: {done.amount} {done.currency}. The lead is a customer.")
    return _back(opportunity.handoff_id)


@login_required
@require_POST
def opportunity_lose(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = _visible(request, pk)
    form = LoseForm(request.POST)
    if not form.is_valid():
        return _refuse(request, form, opportunity.handoff_id)
    data: dict[str, Any] = form.cleaned_data
    done = perform(
        request,
        lambda: services.opportunity_lose(
            opportunity=opportunity,
            actor=request.user,
            reason=data["reason"],
            note=data["note"],
            lead_effect=data["lead_effect"],
        ),
    )
    if done is not None:
        messages.success(request, f"Lost ({data['reason'].label}).")
    return _back(opportunity.handoff_id)
