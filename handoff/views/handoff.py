"""One handoff: its page, and the actions posted from it (accept, ask marketing, answer, log the
first touch, qualify, reassign).

Every action is a HandoffAction: read the form, check the version the page showed, call one
service, then say what happened and redirect; a refusal (403, 409, a lost race) becomes a
message, a bad field re-renders the page with the errors on that form (400). The return lives in
feedback.views as a HandoffAction too (feedback sits above handoff)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.decorators.http import require_GET

from core.errors import ValidationFailed
from core.pages import form_invalid_message, safe_next
from core.roles import is_manager, is_marketer
from handoff import selectors, services
from handoff.forms import (
    AnswerForm,
    AskForm,
    FirstTouchForm,
    QualifyForm,
    ReassignForm,
    SeenForm,
)
from handoff.models import Handoff
from handoff.states import ALLOWED_MOVES, Status
from handoff.timezones import local_words
from handoff.views.display import clock_view, score_breakdown, who, zone_of
from handoff.views.support import check_seen, perform, seen_token

# --- one handoff ----------------------------------------------------------------------------------


def visible_handoff(request: HttpRequest, pk: int) -> Handoff:
    """The handoff if this user may see it (a rep: only their own), else 404."""
    handoff = selectors.handoff_get_visible(user=request.user, pk=pk)
    if handoff is None:
        raise Http404("No such handoff among the ones you can see.")
    return handoff


def handoff_page_context(
    request: HttpRequest, handoff: Handoff, *, now: dt.datetime | None = None, **forms: Any
) -> dict[str, Any]:
    """Everything the handoff page shows. `forms` replaces a fresh form by a bound one with its
    errors (ask_form, answer_form, first_touch_form, qualify_form, reassign_form, return_form)."""
    now = now or timezone.now()
    user = request.user
    moves = ALLOWED_MOVES.get(handoff.status, frozenset())
    # The services' own permission rules (read through selectors) decide what the page offers.
    can_work = selectors.can_work_on(handoff, user)
    can_answer = handoff.status == Status.WAITING and selectors.can_answer(handoff, user)
    seen = seen_token(handoff)
    initial = {"seen": seen}
    context: dict[str, Any] = {
        "handoff": handoff,
        "lead": handoff.lead,
        "seen": seen,
        "clock": clock_view(handoff, now=now),
        "first_touch": clock_view(handoff, now=now, kind="first_touch"),
        "breakdown": score_breakdown(handoff.score_breakdown),
        "events": list(handoff.events.all()),
        "policy": handoff.policy_snapshot or {},
        "routing": handoff.routing or {},
        "zone": zone_of(handoff),
        "can_accept": can_work and Status.ACCEPTED in moves,
        "can_ask": can_work and Status.WAITING in moves,
        "can_return": can_work and Status.RETURNED in moves,
        "can_qualify": can_work and Status.QUALIFIED in moves,
        "can_touch": can_work
        and handoff.status == Status.ACCEPTED
        and handoff.first_touch_at is None,
        "can_reassign": is_manager(user) and Status.REASSIGNED in moves,
        "can_answer": can_answer,
        "is_marketer": is_marketer(user),
        "ask_form": forms.get("ask_form") or AskForm(initial=initial),
        "answer_form": forms.get("answer_form") or AnswerForm(initial=initial),
        "first_touch_form": forms.get("first_touch_form") or FirstTouchForm(initial=initial),
        "qualify_form": forms.get("qualify_form") or QualifyForm(initial=initial),
        "reassign_form": forms.get("reassign_form") or ReassignForm(initial=initial),
        "next_attempts": list(handoff.next_attempts.select_related("assigned_to")),
        "chain": selectors.attempt_chain(handoff),
    }
    if "return_form" in forms:
        context["return_form"] = forms["return_form"]
    return context


def render_handoff_page(
    request: HttpRequest, handoff: Handoff, *, status: int = 200, **forms: Any
) -> HttpResponse:
    return render(
        request,
        "handoff/handoff_detail.html",
        handoff_page_context(request, handoff, **forms),
        status=status,
    )


@login_required
@require_GET
def handoff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_handoff_page(request, visible_handoff(request, pk))


def detail_url(pk: int) -> str:
    return reverse("handoff:handoff-detail", kwargs={"pk": pk})


# --- the actions ----------------------------------------------------------------------------------


class HandoffAction(View):
    """One action posted from the handoff page: validate -> act -> message -> redirect.

    A subclass names its form, the service call (`act`), what it says on success (`message`,
    `success_url`, or `succeeded` for both) and how the page speaks of its form when a field is
    wrong (`subject`, `form_key`). The version check and the mapping of refusals are here once:
    a refused action (403, 409, a lost race) queues a message and goes back; a bad field answers
    400 with the handoff page and the errors on the form.
    """

    http_method_names = ["post"]
    form_class: type[SeenForm] = SeenForm
    # The form has fields of its own: act only when it is valid, and show errors on it. Without
    # (accept), the action runs whatever the form says; an unreadable version is refused.
    validate = True
    subject = ""  # "Your question": how the 400 message names what was wrong
    form_key = ""  # the handoff page's name for this form ("ask_form")
    follow_next = True  # after a refusal, go to the form's `next` (when it is on this site)

    request: HttpRequest

    def get_form(self) -> SeenForm:
        return self.form_class(self.request.POST)

    def act(self, handoff: Handoff, form: Any) -> Any:
        raise NotImplementedError

    def message(self, done: Any, handoff: Handoff) -> str:
        raise NotImplementedError

    def success_url(self, done: Any, handoff: Handoff) -> str:
        return safe_next(self.request, detail_url(handoff.pk))

    def succeeded(self, done: Any, handoff: Handoff) -> HttpResponse:
        messages.success(self.request, self.message(done, handoff))
        return redirect(self.success_url(done, handoff))

    def back_url(self, pk: int) -> str:
        return safe_next(self.request, detail_url(pk)) if self.follow_next else detail_url(pk)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        handoff = visible_handoff(request, pk)
        form = self.get_form()
        valid = form.is_valid()
        if valid or not self.validate:

            def call() -> Any:
                if "seen" in form.errors:
                    raise ValidationFailed("The page sent an unreadable version; reload it.")
                check_seen(handoff, form.cleaned_data.get("seen"))
                return self.act(handoff, form)

            done = perform(
                request, call, form=form if self.validate else None, handoff_id=handoff.pk
            )
            if done is not None:
                return self.succeeded(done, handoff)
        if not self.validate or not form.errors:  # a refusal message is already queued
            return redirect(self.back_url(pk))
        form_invalid_message(request, self.subject)
        return render_handoff_page(
            request, visible_handoff(request, pk), status=400, **{self.form_key: form}
        )


class AcceptAction(HandoffAction):
    validate = False

    def act(self, handoff: Handoff, form: Any) -> Handoff:
        return services.handoff_accept(handoff=handoff, actor=self.request.user)

    def message(self, done: Handoff, handoff: Handoff) -> str:
        touch = clock_view(done, now=timezone.now(), kind="first_touch")
        due = f" First touch due {local_words(touch.due_local)}." if touch.due_local else ""
        return f"Accepted: {done.lead} is yours now.{due}"

    def success_url(self, done: Handoff, handoff: Handoff) -> str:
        return detail_url(handoff.pk)


class AskAction(HandoffAction):
    form_class = AskForm
    subject = "Your question"
    form_key = "ask_form"
    follow_next = False

    def act(self, handoff: Handoff, form: Any) -> Handoff:
        return services.handoff_request_info(
            handoff=handoff, actor=self.request.user, question=form.cleaned_data["question"]
        )

    def message(self, done: Handoff, handoff: Handoff) -> str:
        left = clock_view(done, now=timezone.now()).label.removeprefix("paused, ")
        return f"Asked marketing. Your clock is paused with {left}; it resumes when they answer."

    def success_url(self, done: Handoff, handoff: Handoff) -> str:
        return detail_url(handoff.pk)


class AnswerAction(HandoffAction):
    form_class = AnswerForm
    subject = "Your answer"
    form_key = "answer_form"

    def act(self, handoff: Handoff, form: Any) -> Handoff:
        return services.handoff_provide_info(
            handoff=handoff, actor=self.request.user, answer=form.cleaned_data["answer"]
        )

    def message(self, done: Handoff, handoff: Handoff) -> str:
        clock = clock_view(done, now=timezone.now())
        return (
            f"Answer sent to {who(done.assigned_to)}: their clock is running again ({clock.text})."
        )


class FirstTouchAction(HandoffAction):
    form_class = FirstTouchForm
    subject = "The first touch"
    form_key = "first_touch_form"

    def act(self, handoff: Handoff, form: Any) -> Handoff:
        return services.handoff_log_first_touch(
            handoff=handoff,
            actor=self.request.user,
            channel=form.cleaned_data["channel"],
            note=form.cleaned_data["note"],
        )

    def message(self, done: Handoff, handoff: Handoff) -> str:
        return f"First touch logged ({done.first_touch_channel}) for {done.lead}."


class QualifyAction(HandoffAction):
    form_class = QualifyForm
    subject = "The qualification"
    form_key = "qualify_form"
    follow_next = False

    def act(self, handoff: Handoff, form: Any) -> Handoff:
        return services.handoff_qualify(
            handoff=handoff,
            actor=self.request.user,
            bant=form.bant(),
            note=form.cleaned_data["note"],
        )

    def message(self, done: Handoff, handoff: Handoff) -> str:
        return f"Qualified: {done.lead} is a sales-qualified lead (SQL)."

    def success_url(self, done: Handoff, handoff: Handoff) -> str:
        return reverse("handoff:my-accepted")


class ReassignAction(HandoffAction):
    form_class = ReassignForm
    subject = "The reassignment"
    form_key = "reassign_form"

    def act(self, handoff: Handoff, form: Any) -> Handoff:
        return services.handoff_reassign(
            handoff=handoff,
            actor=self.request.user,
            to_rep=form.cleaned_data["to_rep"],
            reason=form.cleaned_data["reason"],
        )

    def succeeded(self, done: Handoff, handoff: Handoff) -> HttpResponse:
        # `done` is the new attempt: the page to show next is its own.
        if done.assigned_to is not None:
            messages.success(
                self.request,
                f"Reassigned {done.lead} to {who(done.assigned_to)} (attempt {done.attempt}).",
            )
        else:
            messages.warning(
                self.request,
                f"Nobody in {done.team} can take {done.lead} now: attempt {done.attempt} waits "
                "in the manager's queue.",
            )
        return redirect(safe_next(self.request, detail_url(done.pk)))


handoff_accept = login_required(AcceptAction.as_view())
handoff_ask = login_required(AskAction.as_view())
handoff_answer = login_required(AnswerAction.as_view())
handoff_first_touch = login_required(FirstTouchAction.as_view())
handoff_qualify = login_required(QualifyAction.as_view())
handoff_reassign = login_required(ReassignAction.as_view())
