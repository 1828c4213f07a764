"""Row validation shared by the bulk API, the CSV import and the admin import (no database)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from leads import ingest, services
from leads.ingest import clean_lead_row, is_valid_email, seniority_from_title
from leads.models import LEAD_PROTECTED_FIELDS, LEAD_WRITABLE_FIELDS, Lead
from leads.serializers import LeadSerializer
from leads.services import normalise_email

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)


def django_says(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.emails(),
        st.text(max_size=40),
        st.from_regex(r"[a-z.\-_+]{0,10}@[a-z0-9.\-\[\]:]{0,15}", fullmatch=True),
    )
)
def test_the_quick_email_check_agrees_with_djangos_validator(value):
    assert is_valid_email(value) == django_says(value)


@pytest.mark.parametrize(
    ("raw", "email"),
    [(" Ada@Example.COM ", "ada@example.com"), ("\tbob@x.io\n", "bob@x.io"), ("", "")],
)
def test_emails_are_trimmed_and_lower_cased(raw, email):
    assert normalise_email(raw) == email


def test_a_row_takes_its_domain_from_the_email_only_when_none_is_given():
    row = clean_lead_row({"email": "A@Sub.Example.com"}, index=0, now=NOW)
    assert row.email == "a@sub.example.com"
    assert "domain" not in row.values  # derived when written, so an update can keep its own
    given_domain = clean_lead_row({"email": "a@gmail.com", "domain": "Acme.COM"}, index=0, now=NOW)
    assert given_domain.values["domain"] == "acme.com"


@pytest.mark.parametrize(
    ("title", "seniority"),
    [
        ("Chief Revenue Officer", "c_level"),
        ("CTO", "c_level"),
        ("Co-founder & CEO", "c_level"),
        ("SVP, Sales", "vp"),
        ("Vice President Marketing", "vp"),
        ("Head of Data", "director"),
        ("Director, IT", "director"),
        ("Engineering Manager", "manager"),
        ("Team Lead", "manager"),
        ("Software Engineer", "individual"),
        ("", ""),
    ],
)
def test_seniority_is_read_from_the_title(title, seniority):
    assert seniority_from_title(title) == seniority


def test_an_empty_csv_cell_leaves_the_field_alone_but_an_empty_json_string_clears_it():
    csv_row = clean_lead_row(
        {"email": "a@b.example", "company": ""}, index=0, now=NOW, blank_is_missing=True
    )
    json_row = clean_lead_row({"email": "a@b.example", "company": ""}, index=0, now=NOW)
    assert "company" not in csv_row.values
    assert json_row.values["company"] == ""


def test_an_event_without_an_offset_is_taken_as_utc_and_one_far_ahead_is_refused():
    row = clean_lead_row(
        {
            "email": "a@b.example",
            "events": [
                {"kind": "page_view", "occurred_at": "2026-05-04T10:00:00"},
                {"kind": "page_view", "occurred_at": "2026-05-06T10:00:00Z"},
            ],
        },
        index=0,
        now=NOW,
    )
    assert row.errors == {"events[1].occurred_at": ["Is in the future."]}
    assert row.events[0].occurred_at == dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


def test_the_lead_field_lists_come_from_one_place():
    # What a client may write is one list: the row checks, the API and the bulk SQL agree on it.
    assert ingest.WRITABLE_FIELDS == LEAD_WRITABLE_FIELDS
    assert set(ingest.TEXT_FIELDS) | set(ingest.CHOICE_FIELDS) | set(
        ingest.REFERENCE_FIELDS
    ) == set(LEAD_WRITABLE_FIELDS) - {"email"}
    assert set(LEAD_WRITABLE_FIELDS) <= set(LeadSerializer.Meta.fields)
    columns = tuple(
        Lead._meta.get_field(name).attname for name in LEAD_WRITABLE_FIELDS if name != "email"
    )
    assert columns == services.WRITABLE_COLUMNS
    assert not set(LEAD_WRITABLE_FIELDS) & LEAD_PROTECTED_FIELDS
    assert ingest.CHOICE_FIELDS["seniority"] == tuple(
        str(value) for value, _ in Lead._meta.get_field("seniority").flatchoices
    )
