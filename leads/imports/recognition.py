"""Which desk field each column of a CSV header fills.

Headers are compared with case, spaces and punctuation ignored (`E-mail`, `Email Address` and
`email` are the same column), against the usual export headers of HubSpot (contacts),
Salesforce (leads and contacts reports), Marketo (lead lists) and a plain spreadsheet.

Two rules for columns the desk has no field for, kept coherent:
- a header written in the desk's own column names (our export, the documented plain format:
  every recognised column is spelt exactly as a desk field) is read strictly: an unknown
  column is a typo to fix and refuses the file, naming it;
- any other header (a tool's export, a spreadsheet with `First Name`) lists the columns it has
  no field for as skipped.
Either way, a column the user explicitly skips (a saved mapping, the mapping step) is no
problem, and two columns matched to one field always refuse the file, naming both, until one
of them is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from leads.csvfile import unzoned_header
from leads.ingest import WRITABLE_FIELDS

SKIP = ""
# Columns of our own export that the system sets: read past, never written.
SYSTEM_COLUMNS = frozenset({"id", "stage", "score", "ready_for_sales", "created_at"})
FIELD_LABELS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "title": "Job title",
    "company": "Company",
    "domain": "Company domain",
    "industry": "Industry",
    "country": "Country",
    "seniority": "Seniority",
    "employee_band": "Employee band",
    "source": "Source",
    "campaign": "Campaign",
    "owner": "Owner (marketer's username)",
}
assert set(FIELD_LABELS) == set(WRITABLE_FIELDS)


def normalise(header: str) -> str:
    """`Country/Region` -> `countryregion`: case, spaces and punctuation do not count."""
    return re.sub(r"[\W_]+", "", header.casefold())


# The spellings of each field in the exports people bring, normalised. Owner columns of CRM
# exports name salespeople, not the desk's marketers, so only the desk's own `owner` maps.
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "e-mail", "workemail", "businessemail", "primaryemail"),
    "first_name": ("firstname", "givenname", "first"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "phone": ("phone", "phonenumber", "businessphone", "workphone", "telephone"),
    "title": ("title", "jobtitle", "position"),
    "seniority": ("seniority", "senioritylevel", "joblevel", "managementlevel"),
    "company": ("company", "companyname", "accountname", "companyaccount", "organization",
                "organisation", "account"),
    "domain": ("domain", "companydomain", "companydomainname", "emaildomain"),
    "industry": ("industry", "companyindustry"),
    "country": ("country", "countryregion", "billingcountry", "mailingcountry", "countryname"),
    "employee_band": ("employeeband", "employees", "numberofemployees", "noofemployees",
                      "employeecount", "companysize", "numemployees"),
    "source": ("source", "originalsource", "leadsource", "personsource"),
    "campaign": ("campaign", "campaignname"),
    "owner": ("owner",),
}  # fmt: skip
ALIASES: dict[str, str] = {
    normalise(alias): name for name, aliases in _ALIASES.items() for alias in aliases
}
# Headers that tell which tool exported the file (shown to the user, and a saved mapping's
# suggested name).
_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("HubSpot contacts", frozenset({"recordid", "lifecyclestage", "originalsource"})),
    (
        "Salesforce report",
        frozenset({"leadid", "contactid", "leadowner", "contactowner", "companyaccount",
                   "noofemployees", "mailingcountry", "billingcountry"}),
    ),
    ("Marketo lead list", frozenset({"personsource", "leadscore", "acquisitionprogram",
                                     "personstatus", "marketosocialfacebookid"})),
)  # fmt: skip


@dataclass
class Column:
    index: int  # 0-based position in the file
    header: str
    field: str  # a desk field, or SKIP
    how: str  # "recognised", "chosen", "system" or "unknown"
    samples: list[str] = dataclass_field(default_factory=list)
    explicit: bool = False  # chosen by the user (mapping step, saved mapping)

    @property
    def number(self) -> int:
        return self.index + 1


@dataclass
class HeaderMapping:
    columns: list[Column]
    tool: str
    strict: bool
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def column_of(self) -> dict[str, Column]:
        """The column that fills each field."""
        return {c.field: c for c in self.columns if c.field}

    def choices(self) -> dict[str, str]:
        """What a saved mapping keeps: normalised header -> field or SKIP."""
        return {normalise(c.header): c.field for c in self.columns if c.header.strip()}

    @property
    def skipped(self) -> list[Column]:
        return [c for c in self.columns if not c.field and c.how != "system"]


def detect_tool(keys: set[str]) -> str:
    for name, signature in _SIGNATURES:
        if keys & signature:
            return name
    return "Spreadsheet"


def recognise(header: Sequence[str], *, chosen: Mapping[str, str] | None = None) -> HeaderMapping:
    """Match each column of `header` to a field. `chosen` (normalised header -> field or SKIP,
    from a saved mapping or the mapping step) overrides the recognition."""
    chosen = chosen or {}
    columns: list[Column] = []
    problems: list[str] = []
    keys = {normalise(h) for h in header}
    for index, raw in enumerate(header):
        text = raw.strip()
        key = normalise(text)
        # Our export names the zone of its times ("created_at (Europe/Paris)").
        if unzoned_header(text) in SYSTEM_COLUMNS:
            column = Column(index, text, SKIP, "system")
        elif key in ALIASES:
            column = Column(index, text, ALIASES[key], "recognised")
        else:
            column = Column(index, text, SKIP, "unknown")
        if key in chosen:
            target = chosen[key]
            if target and target not in FIELD_LABELS:
                problems.append(f'Column {index + 1} "{text}": "{target}" is not a lead field.')
                target = SKIP
            column.explicit = True
            if target != column.field:
                column.field, column.how = target, "chosen"
        columns.append(column)
    recognised = [c for c in columns if c.how == "recognised"]
    strict = bool(recognised) and all(c.header in FIELD_LABELS for c in recognised)
    unknown = [c for c in columns if c.how == "unknown" and not c.explicit]
    if strict and unknown:
        shown = ", ".join(f'"{c.header}" (column {c.number})' for c in unknown)
        problems.append(
            f"Unknown column(s): {shown}. Known: {', '.join(FIELD_LABELS)}; rename or skip it."
        )
    seen: dict[str, list[Column]] = {}
    for column in columns:
        if column.field:
            seen.setdefault(column.field, []).append(column)
    for name, twins in seen.items():
        if len(twins) < 2:
            continue
        if len({c.header for c in twins}) == 1:
            problems.append(
                f'The column "{twins[0].header}" is named twice (columns '
                f"{' and '.join(str(c.number) for c in twins)}); keep one."
            )
        else:
            shown = " and ".join(f'"{c.header}" (column {c.number})' for c in twins)
            problems.append(f"{shown} both fill {name}; skip one of them.")
    if "email" not in seen:
        problems.append(
            "The first line must be a header naming the columns, with 'email' (or Email, "
            "Email Address, E-mail); no column is matched to email."
        )
    return HeaderMapping(columns, detect_tool(keys), strict, problems)
