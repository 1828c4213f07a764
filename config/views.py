from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.errors import DomainError
from core.roles import is_manager, is_marketer, is_rep
from handoff import timezones
from leads.models import UserProfile
from leads.services import user_time_zone_set


def manager_home() -> str:
    """The dashboard when it is wired, else the manager's queue."""
    try:
        return reverse("feedback:dashboard")
    except NoReverseMatch:
        return reverse("handoff:manager-queue")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its main page: managers on the dashboard, reps on their queue,
    marketers on the lead list ("ready for sales" first). Someone with no role is told so."""
    user = request.user
    if is_manager(user):
        return redirect(manager_home())
    if is_rep(user):
        return redirect("handoff:my-queue")
    if is_marketer(user):
        return redirect("handoff:lead-list")
    return render(request, "home.html")


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Time zone", required=False)

    def __init__(self, *args: object, automatic: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        zones = sorted(timezones.known_zones())
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", f"Automatic: {automatic}"), *((z, z) for z in zones)]


@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    """The person's own settings: the time zone every time is shown in."""
    user: Any = request.user  # logged in (login_required)
    automatic = timezones.default_zone_name_for(user)
    current = (
        UserProfile.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
    )
    form = TimeZoneForm(
        request.POST or None, automatic=automatic, initial={"time_zone": current or ""}
    )
    if request.method == "POST" and form.is_valid():
        try:
            user_time_zone_set(user=user, time_zone=form.cleaned_data["time_zone"])
        except DomainError as exc:
            form.add_error("time_zone", exc.message)
        else:
            name = form.cleaned_data["time_zone"] or automatic
            timezones.remember(request, name)
            timezone.activate(timezones.zone(name))
            now = timezones.local_words(timezone.now())
            messages.success(request, f"Times are now shown in {name} (it is {now}).")
            return redirect("settings")
    status = 400 if form.errors else 200
    return render(
        request,
        "settings.html",
        {"form": form, "automatic": automatic, "current": timezone.get_current_timezone_name()},
        status=status,
    )


def signed_in_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A page for signed-in users by session (people) or by API token (scripts reading the API
    docs); anyone else is sent to the login page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            try:
                # TokenAuthentication reads only the Authorization header of request.META.
                found = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
            except AuthenticationFailed:
                found = None
            if found is None:
                return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper
