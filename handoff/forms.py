"""Forms of the handoff pages. They check shape only (lengths, choices); the rules (who may act,
what a move needs) are the services', whose errors land on these forms' fields through
core.pages.perform."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from core.roles import SALES
from handoff.models import Team
from handoff.services import BANT_MAX_LENGTH, FIRST_TOUCH_CHANNELS

TEXT_MAX = 5000


def _textarea(rows: int = 3, placeholder: str = "") -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})


class SeenForm(forms.Form):
    """Carries the version of the handoff the page showed (handoff.views.support.seen_token)."""

    seen = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=500)


class PromoteForm(forms.Form):
    note = forms.CharField(
        label="Context for the rep",
        required=False,
        max_length=TEXT_MAX,
        widget=_textarea(4, "Why this lead, why now: what they asked for, who they are."),
        help_text="Required, at least 20 characters. The rep reads this first, with the score "
        "breakdown and the recent activity.",
    )
    team = forms.ModelChoiceField(
        label="Team",
        queryset=Team.objects.filter(active=True).order_by("priority", "name"),
        required=False,
        empty_label="Let the routing rules pick",
    )


class AskForm(SeenForm):
    question = forms.CharField(
        label="What is missing?",
        required=False,
        max_length=TEXT_MAX,
        widget=_textarea(3, "e.g. Which product did they trial? Who else is on the account?"),
        help_text="Your SLA clock pauses until marketing answers, and resumes with the time left.",
    )


class AnswerForm(SeenForm):
    answer = forms.CharField(
        label="Your answer",
        required=False,
        max_length=TEXT_MAX,
        widget=_textarea(3, "Answer the rep; their clock resumes when you send it."),
    )


class FirstTouchForm(SeenForm):
    channel = forms.ChoiceField(
        label="How did you reach them?",
        choices=[(c, c.capitalize()) for c in FIRST_TOUCH_CHANNELS],
        initial=FIRST_TOUCH_CHANNELS[0],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note", required=False, max_length=TEXT_MAX, widget=_textarea(2, "Optional")
    )


def _bant(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=BANT_MAX_LENGTH,
        help_text=help_text,
        widget=_textarea(2),
        error_messages={"required": f"Answer the {label.lower()} question."},
    )


class QualifyForm(SeenForm):
    # Required here (the service requires them too) so that all four missing answers show at once.
    budget = _bant("Budget", "Is money set aside, how much, and from which budget?")
    authority = _bant("Authority", "Who decides and who signs?")
    need = _bant("Need", "What problem must they solve?")
    timeline = _bant("Timeline", "By when do they want it working?")
    note = forms.CharField(label="Note", required=False, max_length=TEXT_MAX, widget=_textarea(2))

    def bant(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(name, "")
            for name in ("budget", "authority", "need", "timeline")
        }


class RepChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class ReassignForm(SeenForm):
    to_rep = RepChoiceField(
        label="Give it to",
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="The next rep in the team's rotation",
    )
    reason = forms.CharField(label="Why", required=False, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_rep"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(is_active=True, groups__name=SALES)
            .order_by("first_name", "username")
        )
