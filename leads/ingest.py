"""Validation of incoming lead rows (bulk API, CSV import): pure, fast, one dict per row.

DRF serializers cost ~100 us a row, which is a tenth of the bulk endpoint's whole budget at
5,000 leads/s; these hand-written checks cost a few microseconds. leads.serializers documents
the same shape for the OpenAPI schema, and a test keeps both field lists in step.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.dateparse import parse_datetime

from leads.derivation import domain_from_email as domain_from_email
from leads.derivation import seniority_from_title as seniority_from_title
from leads.models import (
    LEAD_CHOICE_FIELDS,
    LEAD_PROTECTED_FIELDS,
    LEAD_REFERENCE_FIELDS,
    LEAD_TEXT_FIELDS,
    LEAD_WRITABLE_FIELDS,
    EventKind,
    Lead,
)

MAX_EVENTS_PER_ROW = 100
MAX_PAYLOAD_KEYS = 50
# PostgreSQL text cannot hold NUL; a value with one is refused naming its field.
NUL_MESSAGE = "Must not contain NUL (\\u0000) characters."
ID_MAX = 2**63 - 1
# An event's payload is a small note from the sending system, not a document store: bounded in
# depth and in size, so one event cannot weigh a megabyte or nest past what JSON tools handle.
MAX_PAYLOAD_DEPTH = 8
MAX_PAYLOAD_BYTES = 16 * 1024
# A sender's clock may run a little fast; an event further ahead than this is a mistake.
FUTURE_TOLERANCE = dt.timedelta(hours=1)

# Plain text fields anyone writing leads may set: name -> max length.
TEXT_FIELDS: dict[str, int] = {
    name: getattr(Lead._meta.get_field(name), "max_length", 0) or 0 for name in LEAD_TEXT_FIELDS
}
# Choice fields: name -> the values the model allows.
CHOICE_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(str(value) for value, _ in getattr(Lead._meta.get_field(name), "flatchoices", ()))
    for name in LEAD_CHOICE_FIELDS
}
REFERENCE_FIELDS = LEAD_REFERENCE_FIELDS
# Everything a client may write; the rest of a lead is the system's (see PROTECTED_FIELDS).
WRITABLE_FIELDS = LEAD_WRITABLE_FIELDS
PROTECTED_FIELDS = LEAD_PROTECTED_FIELDS
PROTECTED_MESSAGE = {
    "stage": "Read-only: the stage changes only through promotion and the handoff flow.",
}
EVENT_FIELDS = frozenset({"kind", "occurred_at", "payload", "external_id"})
EVENT_KINDS = frozenset(EventKind.values)

_email_validator = EmailValidator()
# Django's own patterns, compiled eagerly: its lazily compiled regexes cost ~100 us a call
# through their proxy, a fifth of a bulk row's budget. Same rules, same answers.
_EMAIL_USER_RE = re.compile(EmailValidator.user_regex.pattern, re.IGNORECASE)
_EMAIL_DOMAIN_RE = re.compile(EmailValidator.domain_regex.pattern, re.IGNORECASE)


def is_valid_email(value: str) -> bool:
    """django.core.validators.validate_email's answer, quicker on the common forms."""
    if not value or "@" not in value or len(value) > 320:
        return False
    user, domain = value.rsplit("@", 1)
    if not _EMAIL_USER_RE.match(user):
        return False
    if domain in _email_validator.domain_allowlist or _EMAIL_DOMAIN_RE.match(domain):
        return True
    try:  # address literals ([192.0.2.1]) are rare: let Django decide
        _email_validator(value)
    except ValidationError:
        return False
    return True


_country_re = re.compile(r"^[A-Za-z]{2}$")


@dataclass
class CleanEvent:
    kind: str
    occurred_at: dt.datetime
    payload: dict[str, Any]
    external_id: str


@dataclass
class CleanRow:
    """A validated row: `values` holds only the fields the row gave (an update touches those)."""

    index: int
    email: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    campaign_ref: int | str | None = None  # id or exact name; None with has_campaign: clear it
    has_campaign: bool = False
    owner_ref: int | str | None = None  # id or username
    has_owner: bool = False
    events: list[CleanEvent] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def _clean_text(row: CleanRow, name: str, value: Any, *, blank_is_missing: bool) -> None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        row.error(name, "Must be a string.")
        return
    if "\x00" in value:
        row.error(name, NUL_MESSAGE)
        return
    value = value.strip()
    if blank_is_missing and not value:
        return
    if name == "country" and value:
        if not _country_re.match(value):
            row.error(name, "A two-letter ISO 3166-1 country code, e.g. US.")
            return
        value = value.upper()
    limit = TEXT_FIELDS[name]
    if len(value) > limit:
        row.error(name, f"At most {limit} characters (got {len(value)}).")
        return
    elif name == "domain":
        value = value.lower()
    row.values[name] = value


def _clean_choice(row: CleanRow, name: str, value: Any, *, blank_is_missing: bool) -> None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        row.error(name, "Must be a string.")
        return
    value = value.strip()
    if blank_is_missing and not value:
        return
    allowed = CHOICE_FIELDS[name]
    if value not in allowed:
        shown = ", ".join(v for v in allowed if v)
        row.error(name, f'"{value}" is not one of: {shown}')
        return
    row.values[name] = value


def _clean_reference(row: CleanRow, name: str, value: Any, *, blank_is_missing: bool) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            row.error(name, NUL_MESSAGE)
            return
        value = value.strip()
        if value.isdigit():
            value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and not 0 < value <= ID_MAX:
        row.error(name, f"No {name} has the id {value}.")
        return
    if value == "" or value is None:
        if blank_is_missing:
            return
        value = None
    elif isinstance(value, bool) or not isinstance(value, int | str):
        row.error(name, "Give an id or a name.")
        return
    if name == "campaign":
        row.campaign_ref, row.has_campaign = value, True
    else:
        row.owner_ref, row.has_owner = value, True


def _clean_events(row: CleanRow, value: Any, now: dt.datetime) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        row.error("events", "Must be a list of events.")
        return
    if len(value) > MAX_EVENTS_PER_ROW:
        row.error("events", f"At most {MAX_EVENTS_PER_ROW} events per lead.")
        return
    for i, raw in enumerate(value):
        event = clean_event(raw, now=now)
        if isinstance(event, dict):
            for name, messages in event.items():
                row.errors.setdefault(f"events[{i}].{name}", []).extend(messages)
        else:
            row.events.append(event)


def _depth(value: Any, limit: int) -> int:
    """How deep a JSON value nests (stops counting past the limit)."""
    if limit < 0 or not isinstance(value, dict | list):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


def payload_problem(payload: Any) -> str | None:
    """What is wrong with an event payload (an object, small and shallow), or None."""
    if not isinstance(payload, dict):
        return "Must be an object."
    if not payload:
        return None
    if len(payload) > MAX_PAYLOAD_KEYS:
        return f"At most {MAX_PAYLOAD_KEYS} keys."
    if _depth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH:
        return f"Nested at most {MAX_PAYLOAD_DEPTH} levels deep."
    dumped = json.dumps(payload, ensure_ascii=False)
    if "\\u0000" in dumped:
        return NUL_MESSAGE
    size = len(dumped.encode())
    if size > MAX_PAYLOAD_BYTES:
        return f"At most {MAX_PAYLOAD_BYTES // 1024} KB as JSON (got {size // 1024:,} KB)."
    return None


def clean_event(raw: Any, *, now: dt.datetime) -> CleanEvent | dict[str, list[str]]:
    """A validated event, or its errors by field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return {"non_field_errors": ["Must be an object with kind and occurred_at."]}
    for name in raw.keys() - EVENT_FIELDS - {"lead_id", "email"}:
        errors[name] = ["Unknown field."]
    kind = raw.get("kind")
    if kind not in EVENT_KINDS:
        errors["kind"] = ["Required." if kind is None else f'"{kind}" is not a known event kind.']
    occurred_raw = raw.get("occurred_at")
    occurred_at: dt.datetime | None = None
    if isinstance(occurred_raw, str):
        try:
            occurred_at = parse_datetime(occurred_raw)
        except ValueError:
            occurred_at = None
    if occurred_at is None:
        errors["occurred_at"] = [
            "Required."
            if occurred_raw is None
            else "An ISO 8601 date-time, e.g. 2026-05-01T09:30:00Z."
        ]
    else:
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=dt.UTC)  # documented: naive means UTC
        if occurred_at > now + FUTURE_TOLERANCE:
            errors["occurred_at"] = ["Is in the future."]
    payload = raw.get("payload")
    if payload is None:
        payload = {}
    problem = payload_problem(payload)
    if problem:
        errors["payload"] = [problem]
    external_id = raw.get("external_id") or ""
    if not isinstance(external_id, str) or len(external_id) > 100:
        errors["external_id"] = ["A string of at most 100 characters."]
    elif "\x00" in external_id:
        errors["external_id"] = [NUL_MESSAGE]
    if errors:
        return errors
    assert occurred_at is not None and isinstance(kind, str) and isinstance(payload, dict)
    return CleanEvent(kind, occurred_at, payload, external_id.strip())


def clean_email(raw: Any) -> tuple[str, str | None]:
    """(normalised email, error or None)."""
    if not isinstance(raw, str):
        return "", "Required." if raw is None else "Must be a string."
    email = raw.strip().lower()
    if not email:
        return "", "Required."
    if len(email) > 254:
        return email, "At most 254 characters."
    if not is_valid_email(email):
        return email, f'"{raw.strip()}" is not a valid email address.'
    return email, None


def clean_lead_row(
    raw: Any,
    *,
    index: int,
    now: dt.datetime,
    blank_is_missing: bool = False,
    allow_events: bool = True,
) -> CleanRow:
    """Validate one incoming lead. `blank_is_missing` (CSV): an empty cell leaves the stored
    value alone instead of clearing it."""
    row = CleanRow(index=index)
    if not isinstance(raw, dict):
        row.error("non_field_errors", "Each lead must be a JSON object.")
        return row
    email, problem = clean_email(raw.get("email"))
    row.email = email
    if problem:
        row.error("email", problem)
    for name, value in raw.items():
        if name == "email":
            continue
        if name in TEXT_FIELDS:
            _clean_text(row, name, value, blank_is_missing=blank_is_missing)
        elif name in CHOICE_FIELDS:
            _clean_choice(row, name, value, blank_is_missing=blank_is_missing)
        elif name in REFERENCE_FIELDS:
            _clean_reference(row, name, value, blank_is_missing=blank_is_missing)
        elif name == "events" and allow_events:
            _clean_events(row, value, now)
        elif name in PROTECTED_FIELDS:
            row.error(name, PROTECTED_MESSAGE.get(name, "Read-only: set by the system."))
        else:
            row.error(name, "Unknown field.")
    # Seniority and domain are derived where the stored lead is known (leads.derivation,
    # called by leads.services on every write).
    return row
