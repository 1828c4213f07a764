"""Forms of the feedback pages: the rep's return, marketing's acknowledgement, the report's
filters. Shape only; the rules (an active reason, a note where the reason asks, a reply for a
dispute) are feedback.services', whose errors land on these fields via core.pages.perform."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from feedback.models import RejectionReason, ReturnFeedback
from handoff.forms import TEXT_MAX, SeenForm


def reason_choices(reasons: Iterable[RejectionReason]) -> list[Any]:
    """Grouped by category for the picker; a reason that needs a note says so in its label."""
    groups: dict[str, list[tuple[str, str]]] = {}
    labels = dict(RejectionReason.Category.choices)
    for reason in reasons:
        label = reason.label + (" (note required)" if reason.note_required else "")
        groups.setdefault(str(labels.get(reason.category, reason.category)), []).append(
            (reason.code, label)
        )
    return [("", "Pick a reason"), *[(group, items) for group, items in groups.items()]]


class ReturnForm(SeenForm):
    reason = forms.ChoiceField(label="Reason", required=False, choices=[])
    note = forms.CharField(
        label="Note for marketing",
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What did you find? Marketing reads this."}
        ),
    )

    def __init__(self, *args: Any, reasons: Iterable[RejectionReason] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        reasons = list(reasons)
        self.reasons = reasons
        choices = reason_choices(reasons)
        self.fields["reason"].choices = choices  # type: ignore[attr-defined]
        self.reason_groups = choices[1:]
        self.note_required_codes = [r.code for r in reasons if r.note_required]


class AcknowledgeForm(forms.Form):
    reply = forms.CharField(
        label="Reply to sales",
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional (required to dispute)"}),
    )
    follow_up = forms.ChoiceField(
        label="Follow-up",
        required=False,
        choices=ReturnFeedback.FollowUp.choices,
    )


class ResolveDisputeForm(forms.Form):
    """A manager settles a dispute: the decision comes from the button pressed."""

    decision = forms.ChoiceField(
        choices=[("uphold", "Uphold the return"), ("overturn", "Overturn the return")],
        error_messages={
            "required": "Press Uphold or Overturn.",
            "invalid_choice": "Press Uphold or Overturn.",
        },
    )
    resolution = forms.CharField(
        label="Your note to marketing and the rep",
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Why the return stands, or why it was wrong"}
        ),
    )


class ReportFilterForm(forms.Form):
    """Rendered here, checked by feedback.selectors.MetricsFilters.from_params (its errors name
    these fields)."""

    date_from = forms.CharField(
        label="Promoted from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.CharField(
        label="Promoted until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    team = forms.CharField(label="Team", required=False, widget=forms.Select)
    source = forms.CharField(label="Source", required=False, widget=forms.Select)
    campaign = forms.CharField(label="Campaign", required=False, widget=forms.Select)

    def __init__(
        self,
        *args: Any,
        teams: Iterable[tuple[Any, str]] = (),
        sources: Iterable[tuple[Any, str]] = (),
        campaigns: Iterable[tuple[Any, str]] = (),
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        for name, choices, empty in (
            ("team", teams, "All teams"),
            ("source", sources, "All sources"),
            ("campaign", campaigns, "All campaigns"),
        ):
            self.fields[name].widget.choices = [("", empty), *choices]
