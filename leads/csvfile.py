"""Reading lead CSV files safely, and writing cells that a spreadsheet will not execute.

Shared by `manage.py import_leads` and the admin import: a file that is not UTF-8, has a quote
that never closes, or is over the size limit is refused with an error naming the line, before
anything is written. Exports prefix cells that a spreadsheet would read as a formula.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from typing import IO

# Cells starting with these are formulas to Excel, LibreOffice and Google Sheets (tab and
# carriage return too: some spreadsheets skip them and read what follows).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")
_UTF16_32_BOMS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)


class CsvFileError(ValueError):
    """The file cannot be read as CSV: the message names the line and says what to do."""


def size_problem(size: int, limit: int, *, hint: str) -> str | None:
    if size <= limit:
        return None
    return (
        f"The file is {size / 1_000_000:,.1f} MB, over the limit of {limit / 1_000_000:,.1f} MB; "
        f"{hint}"
    )


def decoded_lines(handle: IO[bytes]) -> Iterator[str]:
    """The file's lines as text, refusing what is not UTF-8 with the line it fails on."""
    head = handle.read(4)
    if head.startswith(_UTF16_32_BOMS):
        raise CsvFileError(
            "line 1: the file is UTF-16 or UTF-32 text; save it as CSV UTF-8 and try again."
        )
    handle.seek(0)
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFileError(
                f"line {number}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                f"{exc.start + 1}); save the file as CSV UTF-8 and try again."
            ) from None
        if "\x00" in text:
            # Text has none: a binary file, or UTF-16 without its byte-order mark.
            raise CsvFileError(
                f"line {number}: contains a NUL byte (column {text.index(chr(0)) + 1}); save "
                "the file as CSV UTF-8 text and try again."
            )
        yield text


def records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record ends, cells) for each non-blank record.

    Strict: a quote that is never closed (the rest of the file would silently become one cell)
    or a stray character after a closing quote is an error naming the line the record starts on.
    """
    reader = csv.reader(lines, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            text = str(exc)
            if "unexpected end of data" in text or "EOF" in text:
                text = "a quoted cell opened here is never closed (unterminated quote)"
            raise CsvFileError(f"line {start}: {text}.") from None
        if cells:
            yield reader.line_num, cells


def escape_cell(value: object) -> object:
    """An exported cell a spreadsheet shows as text: a leading ' before a formula trigger
    (OWASP's advice). Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _NUMBER.match(value):
        return "'" + value
    return value


def unescape_cell(value: object) -> object:
    """What escape_cell added, taken off again when an export is imported back."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


# Date-time columns of our own export; their header names the zone of their times.
ZONED_COLUMNS = frozenset({"created_at"})
_ZONED_HEADER = re.compile(r"^(?P<name>[a-z_]+) \((?P<zone>[A-Za-z0-9_+\-/]+)\)$")


def zoned_header(name: str, zone: str) -> str:
    """ "created_at (Europe/Paris)": the export's header for a date-time column."""
    return f"{name} ({zone})"


def unzoned_header(header: str) -> str:
    """The column a zoned export header stands for ("created_at (UTC)" -> "created_at");
    any other header unchanged."""
    found = _ZONED_HEADER.match(header)
    if found and found["name"] in ZONED_COLUMNS:
        return found["name"]
    return header
