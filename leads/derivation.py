"""The fields the desk derives from others, one rule each, for every way a lead is written.

The admin (add and edit), the API (one lead and bulk), the CSV imports and `import_leads` all
call `derive_fields` on the values they are about to store, so a title gives the same seniority
and an email the same domain whichever door the lead came in by.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from leads.models import Seniority

# Seniority read from a title when none is given; the first pattern that matches wins.
_SENIORITY_FROM_TITLE = [
    (re.compile(r"\b(chief|ceo|cto|cfo|cmo|coo|cio|ciso|cro|founder|(?<!vice[ -])president"
                r"|owner|c[ -]?level|c[ -]?suite|executive)\b", re.I),
     Seniority.C_LEVEL),
    (re.compile(r"\b(vp|svp|evp|avp|vice[ -]president)\b", re.I), Seniority.VP),
    (re.compile(r"\b(director|head of|head)\b", re.I), Seniority.DIRECTOR),
    (re.compile(r"\b(manager|lead|supervisor)\b", re.I), Seniority.MANAGER),
]  # fmt: skip
_SENIORITY_WORDS = {value: value for value in Seniority.values if value} | {
    label.lower(): value for value, label in Seniority.choices if value
}


def seniority_from_title(title: str) -> str:
    if not title or not title.strip():
        return Seniority.UNKNOWN
    for pattern, seniority in _SENIORITY_FROM_TITLE:
        if pattern.search(title):
            return seniority
    return Seniority.INDIVIDUAL


def seniority_from_text(text: str) -> str:
    """A free-text seniority from another tool ("Vice President", "Director", "C-Level"):
    the desk's value or label as is, else read like a title."""
    key = text.strip().lower()
    if key in _SENIORITY_WORDS:
        return _SENIORITY_WORDS[key]
    return seniority_from_title(text)


def domain_from_email(email: str) -> str:
    return email.rsplit("@", 1)[1].lower() if "@" in email else ""


def derive_fields(values: MutableMapping[str, Any], *, given: frozenset[str] | set[str]) -> None:
    """Fill in, in place, what the desk derives from a write.

    `values` holds the lead's values after the write; `given` names the fields the write set.
    Seniority: a write that sets a title and no seniority (a blank one counts as none: it is
    what a form's empty choice sends) gets the title's seniority. Domain: lower-cased when
    given; when blank, the email's domain.
    """
    if "title" in given and not ("seniority" in given and values.get("seniority")):
        values["seniority"] = seniority_from_title(values.get("title") or "")
    domain = values.get("domain") or ""
    if domain:
        values["domain"] = domain.lower()
    elif values.get("email"):
        values["domain"] = domain_from_email(values["email"])
