"""Cells of other tools' exports turned into the desk's values: country names to ISO 3166-1
codes (pycountry), employee counts to bands, sources through the editable alias table,
free-text seniority through the derivation rules. A value that cannot be mapped is an error
naming the value."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

import pycountry

from leads import csvfile
from leads.derivation import seniority_from_text
from leads.imports.recognition import normalise
from leads.models import EmployeeBand, Source, SourceAlias

# Names pycountry does not know that exports commonly hold (keys normalised).
_COUNTRY_VARIANTS = {
    "uk": "GB",
    "greatbritain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northernireland": "GB",
    "russia": "RU",
    "turkey": "TR",
    "holland": "NL",
    "thenetherlands": "NL",
    "ivorycoast": "CI",
    "southkorea": "KR",
    "northkorea": "KP",
    "laos": "LA",
    "macedonia": "MK",
    "swaziland": "SZ",
    "capeverde": "CV",
    "burma": "MM",
    "vaticancity": "VA",
    "usa": "US",
    "us": "US",
    "unitedstatesofamerica": "US",
}


@functools.lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """ "Germany", "DE", "deu", "United States of America", "U.S.A." -> the ISO 3166-1 alpha-2
    code; None when the value names no country."""
    text = value.strip()
    if not text:
        return ""
    key = normalise(text)
    if key in _COUNTRY_VARIANTS:
        return _COUNTRY_VARIANTS[key]
    for candidate in (text, text.replace(".", "")):
        try:
            return str(pycountry.countries.lookup(candidate).alpha_2)
        except LookupError:
            continue
    return None


_BAND_BOUNDS = [
    (1, 10, EmployeeBand.B1_10),
    (11, 50, EmployeeBand.B11_50),
    (51, 200, EmployeeBand.B51_200),
    (201, 500, EmployeeBand.B201_500),
    (501, 1000, EmployeeBand.B501_1000),
    (1001, 5000, EmployeeBand.B1001_5000),
    (5001, None, EmployeeBand.B5001_PLUS),
]
_BANDS = {str(b): str(b) for b in EmployeeBand.values if b}
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*([kK])?\s*\+?$")
_RANGE = re.compile(r"^(\d+)\s*(?:-|\u2013|to)\s*(\d+)$")


def _band_of(count: int) -> str | None:
    for low, high, band in _BAND_BOUNDS:
        if count >= low and (high is None or count <= high):
            return str(band)
    return None


@functools.lru_cache(maxsize=4096)
def employee_band(value: str) -> str | None:
    """ "250", "1,200", "12k", "5000+", "51-200" -> the desk's band; None when the value is not
    a head count (or is 0)."""
    text = value.strip().replace(",", "").replace(" ", "")
    if not text:
        return ""
    if text in _BANDS:
        return _BANDS[text]
    number = _NUMBER.match(text)
    if number:
        count = float(number.group(1)) * (1000 if number.group(2) else 1)
        return _band_of(int(count))
    span = _RANGE.match(text)
    if span:
        low, high = _band_of(int(span.group(1))), _band_of(int(span.group(2)))
        return low if low == high else None
    return None


def source_table() -> dict[str, str]:
    """Normalised source name -> the desk's source: its own values and labels, then the alias
    table (one query)."""
    table: dict[str, str] = {}
    for value, label in Source.choices:
        table[normalise(value)] = value
        table[normalise(str(label))] = value
    table.update(dict(SourceAlias.objects.values_list("key", "source")))
    return table


_MESSAGES = {
    "country": "is not a country name or ISO 3166-1 code",
    "employee_band": "is not a number of employees or a band (1-10 ... 5001+)",
    "source": "is not a known source; add it to Source aliases in the admin, or map the column "
    "to skip",
}


_CONVERTED = frozenset({"country", "employee_band", "source", "seniority"})
_TRIGGER_STARTS = frozenset("'")  # our own export's escape of a formula cell


CONVERTED = _CONVERTED
_MEMO_LIMIT = 100_000  # distinct cells remembered per column (a country column has a few hundred)


def cell_converter(name: str, sources: Mapping[str, str]) -> Callable[[str], tuple[str, str]]:
    """A function turning one cell of the column that fills `name` into (the desk's value, "")
    or (the cell, the problem quoting it). Exports repeat the same few values down a column
    (countries, head counts, sources, titles), so each distinct cell is converted once."""
    memo: dict[str, tuple[str, str]] = {}

    def convert_one(cell: str) -> tuple[str, str]:
        value = str(csvfile.unescape_cell(cell)) if cell and cell[0] in _TRIGGER_STARTS else cell
        if name not in _CONVERTED or not value.strip():
            return value, ""
        mapped: str | None
        if name == "country":
            mapped = country_code(value)
        elif name == "employee_band":
            mapped = employee_band(value)
        elif name == "source":
            mapped = sources.get(normalise(value))
        else:
            mapped = seniority_from_text(value)
        if mapped is None:
            return value, f'"{value.strip()}" {_MESSAGES[name]}.'
        return mapped, ""

    def convert(cell: str) -> tuple[str, str]:
        found = memo.get(cell)
        if found is None:
            found = convert_one(cell)
            if len(memo) < _MEMO_LIMIT:
                memo[cell] = found
        return found

    return convert
