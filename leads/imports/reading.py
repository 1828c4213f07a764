"""Reading an import's file: the header and samples of each column, the mapping recognised
from them, and the rows streamed as the desk's values (each with its conversion problems)."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from leads import csvfile
from leads.imports import values
from leads.imports.recognition import HeaderMapping, recognise
from leads.models import LeadImport

SAMPLES = 3

Opener = Callable[[], Any]  # a context manager yielding a binary file


class ImportRefused(ValueError):
    """The file as a whole is refused (encoding, quotes, header): nothing was written."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """A batch allocates thousands of short-lived, acyclic objects (cells, rows, scores), all
    freed by reference counting; the cyclic collector would walk the whole heap many times per
    file for nothing. It runs between batches instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def records(open_file: Opener) -> Iterator[Iterator[tuple[int, list[str]]]]:
    with open_file() as handle:
        yield csvfile.records(csvfile.decoded_lines(handle))


def read_header(open_file: Opener, *, samples: int = SAMPLES) -> tuple[list[str], list[list[str]]]:
    """The header and up to `samples` non-blank values of each column."""
    try:
        with records(open_file) as rows:
            _, header = next(rows, (0, []))
            found: list[list[str]] = [[] for _ in header]
            wanted = len(header) * samples
            for _, cells in rows:
                for i, cell in enumerate(cells[: len(header)]):
                    if cell.strip() and len(found[i]) < samples:
                        found[i].append(cell.strip())
                        wanted -= 1
                if wanted <= 0:
                    break
    except csvfile.CsvFileError as exc:
        raise ImportRefused(str(exc)) from None
    if not header:
        raise ImportRefused("line 1: the file is empty; the first line must name the columns.")
    return [h.strip() for h in header], found


def mapping_for(open_file: Opener, *, chosen: Mapping[str, str] | None = None) -> HeaderMapping:
    header, samples = read_header(open_file)
    mapping = recognise(header, chosen=chosen)
    for column in mapping.columns:
        column.samples = samples[column.index]
    return mapping


@dataclass
class MappedRow:
    line: int
    raw: dict[str, Any]  # field -> the desk's value (a cell that could not be converted: absent)
    problems: list[str]
    cells: list[str] = field(default_factory=list)  # the line as read, for error messages


def mapped_rows(open_file: Opener, mapping: HeaderMapping) -> Iterator[MappedRow]:
    """Each record as field -> desk value, with the conversion problems naming column and
    value. Stops with ImportRefused on an encoding or quoting error.

    Converted column by column: each column has its converter, which converts a distinct cell
    once (leads.imports.values.cell_converter); a column the desk takes as it is (names,
    emails, phones) is only unescaped."""
    sources = values.source_table()  # one query per file
    width = len(mapping.columns)
    plain: list[tuple[int, str]] = []
    converted: list[tuple[int, str, str, Callable[[str], tuple[str, str]]]] = []
    for column in mapping.columns:
        if not column.field:
            continue
        if column.field in values.CONVERTED:
            convert = values.cell_converter(column.field, sources)
            converted.append((column.index, column.field, column.header, convert))
        else:
            plain.append((column.index, column.field))
    unescape = csvfile.unescape_cell
    try:
        with records(open_file) as rows:
            next(rows, None)
            for line, cells in rows:
                count = len(cells)
                if count > width:
                    yield MappedRow(line, {}, ["more cells than columns in the header"], cells)
                    continue
                raw: dict[str, Any] = {}
                problems: list[str] = []
                for i, name in plain:
                    if i < count:
                        cell = cells[i]
                        raw[name] = unescape(cell) if cell and cell[0] == "'" else cell
                for i, name, header, convert in converted:
                    if i < count:
                        value, problem = convert(cells[i])
                        if problem:
                            problems.append(f'column "{header}": {problem}')
                        else:
                            raw[name] = value
                yield MappedRow(line, raw, problems, cells)
    except csvfile.CsvFileError as exc:
        raise ImportRefused(f"{exc} Nothing was imported.") from None


def field_problems(row: MappedRow, errors: Mapping[str, list[str]], mapping: HeaderMapping) -> None:
    columns = mapping.column_of()
    for name, messages in errors.items():
        column = columns.get(name)
        if column is None:
            row.problems.append(f"{name}: {' '.join(messages)}")
            continue
        value = row.cells[column.index].strip() if column.index < len(row.cells) else ""
        row.problems.append(f'column "{column.header}" ("{value}"): {" ".join(messages)}')


def opener(lead_import: LeadImport) -> Opener:
    """The stored file of an import from the page."""
    content = bytes(lead_import.content)
    return lambda: io.BytesIO(content)
