"""Forms of the import page: the upload, and the mapping step (one choice per file column)."""

from __future__ import annotations

from typing import Any

from django import forms

from leads.imports.recognition import FIELD_LABELS, SKIP, HeaderMapping, normalise
from leads.models import ImportMapping

FIELD_CHOICES = [(SKIP, "Skip this column"), *FIELD_LABELS.items()]


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="An export of HubSpot, Salesforce, "
                           "Marketo or a spreadsheet saved as CSV UTF-8.")  # fmt: skip
    saved_mapping = forms.ModelChoiceField(
        queryset=ImportMapping.objects.order_by("name"),
        required=False,
        empty_label="Recognise the columns",
        label="Mapping",
    )


class ImportMappingForm(forms.Form):
    """One `col_N` choice per file column, then the options of the run."""

    skip_bad_rows = forms.BooleanField(
        required=False,
        label="Import the good rows and skip the bad ones (otherwise nothing is imported "
        "while any row is bad)",
    )
    save_as = forms.CharField(
        required=False, max_length=100, label="Save this mapping as", help_text="e.g. HubSpot "
        "contacts; reuse it on the next upload or with import_leads --mapping."
    )  # fmt: skip

    def __init__(self, *args: Any, mapping: HeaderMapping, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mapping = mapping
        for column in mapping.columns:
            self.fields[f"col_{column.index}"] = forms.ChoiceField(
                choices=FIELD_CHOICES,
                required=False,
                initial=column.field,
                label=column.header or f"Column {column.number}",
            )

    def rows(self) -> list[tuple[Any, Any]]:
        return [(c, self[f"col_{c.index}"]) for c in self.mapping.columns]

    def columns(self) -> dict[str, str]:
        return {
            normalise(c.header): self.cleaned_data.get(f"col_{c.index}") or SKIP
            for c in self.mapping.columns
            if c.header.strip()
        }
