from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from leads.roles import is_manager, is_marketer, is_rep


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


def signed_in_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page for signed-in users by session (people) or by API token (scripts reading the API
    docs); anyone else is sent to the login page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
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
