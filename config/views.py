from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

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
