"""Forms of the opportunity panel on the handoff page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from core.errors import ValidationFailed
from pipeline.models import LostReason
from pipeline.services import LEAD_EFFECTS, clean_amount, clean_currency


class _AmountField(forms.CharField):
    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        if value in (None, ""):
            return None
        try:
            return clean_amount(value)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None


class _CurrencyField(forms.CharField):
    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        try:
            return clean_currency(value)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None


class OpenForm(forms.Form):
    amount = _AmountField(label="Amount", help_text="e.g. 12000.00")
    currency = _CurrencyField(
        label="Currency", required=False, max_length=3, help_text="ISO 4217; empty: company's"
    )
    expected_close_date = forms.DateField(
        label="Expected close", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].widget.attrs["placeholder"] = settings.DEFAULT_CURRENCY


class UpdateForm(forms.Form):
    amount = _AmountField(label="Amount")
    expected_close_date = forms.DateField(
        label="Expected close", widget=forms.DateInput(attrs={"type": "date"})
    )


class WinForm(forms.Form):
    amount = _AmountField(label="Final amount", required=False, help_text="Empty: as recorded.")


class LoseForm(forms.Form):
    reason = forms.ModelChoiceField(
        queryset=LostReason.objects.filter(active=True),
        to_field_name="code",
        label="Why was it lost?",
    )
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    lead_effect = forms.ChoiceField(
        label="The lead",
        choices=[
            (e, "Recycle to nurture" if e == "recycle" else "Disqualify") for e in LEAD_EFFECTS
        ],
        initial="recycle",
    )
