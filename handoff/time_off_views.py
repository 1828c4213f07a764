"""The time-off page: a rep's own days off, or (managers) everyone's, with a form to add one."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.pages import page_for, paginate, perform, sales_or_manager
from core.roles import SALES, is_manager
from handoff import time_off


class TimeOffForm(forms.Form):
    rep = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, label="Rep"
    )
    starts_on = forms.DateField(
        label="First day off", widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(label="Last day off", widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label="Note", required=False, max_length=200)

    def __init__(self, *args: Any, manager: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rep_field = self.fields["rep"]
        if manager and isinstance(rep_field, forms.ModelChoiceField):
            rep_field.queryset = (
                get_user_model()
                .objects.filter(is_active=True, groups__name=SALES)
                .order_by("first_name", "username")
            )
            rep_field.required = True
        else:
            del self.fields["rep"]


@page_for(sales_or_manager, "sales reps and managers")
@require_http_methods(["GET", "POST"])
def time_off_page(request: HttpRequest) -> HttpResponse:
    manager = is_manager(request.user)
    form = TimeOffForm(request.POST or None, manager=manager)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        created = perform(
            request,
            lambda: time_off.time_off_create(
                actor=request.user,
                rep=data.get("rep") or request.user,
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                note=data["note"],
            ),
            form=form,
        )
        if created is not None:
            messages.success(request, f"Time off saved: {created.starts_on} to {created.ends_on}.")
            return redirect("handoff:time-off")
    today = timezone.localdate()
    qs = time_off.time_off_visible_to(request.user).filter(ends_on__gte=today)
    paged = paginate(request, qs.order_by("starts_on", "id"))
    return render(
        request,
        "handoff/time_off.html",
        {
            "form": form,
            "paged": paged,
            "rows": list(paged.page),
            "manager": manager,
            "today": today,
        },
        status=400 if request.method == "POST" else 200,
    )


@page_for(sales_or_manager, "sales reps and managers")
@require_POST
def time_off_delete(request: HttpRequest, pk: int) -> HttpResponse:
    def delete() -> bool:
        time_off.time_off_delete(actor=request.user, time_off_id=pk)
        return True

    if perform(request, delete):
        messages.success(request, "Time off removed.")
    return redirect("handoff:time-off")
