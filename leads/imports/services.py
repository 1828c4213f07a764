"""Checking, writing and undoing a lead import: one code path for the import page, the
admin's import (the page's views in the admin's frame) and `manage.py import_leads`.

A file is read twice, streaming: the check reads every row (header recognition, value
conversion, the bulk API's rules, duplicates, unknown campaigns and owners) and writes nothing;
the write reads it again and upserts in set-based batches. All or nothing unless the user
chose to skip bad rows.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from core import roles
from core.bulksql import insert_rows
from core.errors import Conflict, RuleViolation, ValidationFailed
from leads import csvfile, erasure, services
from leads.history import (
    CHANGED,
    CREATED,
    DELETED,
    deletes_recorded,
    history_model,
    history_rows_insert,
    tracked_columns,
)
from leads.imports import values
from leads.imports.recognition import HeaderMapping, normalise, recognise
from leads.ingest import clean_lead_row
from leads.models import (
    Campaign,
    ImportMapping,
    ImportStatus,
    Lead,
    LeadImport,
    LeadImportChange,
    SourceAlias,
)

UNDO_WINDOW = dt.timedelta(hours=24)
# Rows per set-based upsert: big enough that the per-batch queries and commit are a small share,
# small enough that the page's progress bar moves every second or two.
BATCH_SIZE = 2000
SAMPLES = 3

Opener = Callable[[], Any]  # a context manager yielding a binary file


class ImportRefused(ValueError):
    """The file as a whole is refused (encoding, quotes, header): nothing was written."""


# --- reading ------------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[None]:
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
def _records(open_file: Opener) -> Iterator[Iterator[tuple[int, list[str]]]]:
    with open_file() as handle:
        yield csvfile.records(csvfile.decoded_lines(handle))


def read_header(open_file: Opener, *, samples: int = SAMPLES) -> tuple[list[str], list[list[str]]]:
    """The header and up to `samples` non-blank values of each column."""
    try:
        with _records(open_file) as rows:
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
        with _records(open_file) as rows:
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


def _field_problems(
    row: MappedRow, errors: Mapping[str, list[str]], mapping: HeaderMapping
) -> None:
    columns = mapping.column_of()
    for name, messages in errors.items():
        column = columns.get(name)
        if column is None:
            row.problems.append(f"{name}: {' '.join(messages)}")
            continue
        value = row.cells[column.index].strip() if column.index < len(row.cells) else ""
        row.problems.append(f'column "{column.header}" ("{value}"): {" ".join(messages)}')


# --- the check ----------------------------------------------------------------------------


@dataclass
class CheckResult:
    total: int = 0
    to_create: int = 0
    to_update: int = 0
    bad: dict[int, str] = field(default_factory=dict)

    @property
    def good(self) -> int:
        return self.total - len(self.bad)


def import_check(
    *,
    open_file: Opener,
    mapping: HeaderMapping,
    actor: Any = None,
    on_row: Callable[[int], None] | None = None,
) -> CheckResult:
    """Every bad row by line with why (column and value), and how many rows would create and
    update leads. Writes nothing."""
    if not mapping.ok:
        raise ImportRefused(" ".join(mapping.problems) + " Nothing was imported.")
    with _gc_paused():
        return _check(open_file, mapping, actor, on_row)


def _check(
    open_file: Opener,
    mapping: HeaderMapping,
    actor: Any,
    on_row: Callable[[int], None] | None,
) -> CheckResult:
    now = timezone.now()
    result = CheckResult()
    first_line_of: dict[str, int] = {}
    campaign_lines: dict[int | str, list[int]] = defaultdict(list)
    owner_lines: dict[int | str, list[int]] = defaultdict(list)
    blocked = erasure.erased_hashes()
    good_emails: list[str] = []
    for row in mapped_rows(open_file, mapping):
        result.total += 1
        if on_row:
            on_row(result.total)
        if row.raw:
            clean = clean_lead_row(
                row.raw, index=0, now=now, blank_is_missing=True, allow_events=False
            )
            if clean.errors:
                _field_problems(row, clean.errors, mapping)
            email_ok = clean.email and "email" not in clean.errors
            # The blocklist is usually empty: no keyed hash per row then.
            if email_ok and blocked and erasure.email_hash(clean.email) in blocked:
                row.problems.append(f"email: {erasure.ERASED_EMAIL_MESSAGE}")
            if email_ok:
                if clean.email in first_line_of:
                    row.problems.append(
                        f"email: {clean.email} is also on line {first_line_of[clean.email]}"
                    )
                else:
                    first_line_of[clean.email] = row.line
            if clean.has_campaign and clean.campaign_ref is not None:
                campaign_lines[clean.campaign_ref].append(row.line)
            if clean.has_owner and clean.owner_ref is not None:
                owner_lines[clean.owner_ref].append(row.line)
            if email_ok and not row.problems:
                good_emails.append(clean.email)
        if row.problems:
            result.bad[row.line] = "; ".join(row.problems)
    for why, lines in _unknown_references(campaign_lines, owner_lines, actor):
        for line in lines:
            result.bad[line] = (result.bad[line] + "; " if line in result.bad else "") + why
    result.bad = dict(sorted(result.bad.items()))
    bad_emails = {e for e, line in first_line_of.items() if line in result.bad}
    good = [e for e in good_emails if e not in bad_emails]
    existing = 0
    for start in range(0, len(good), 5000):
        existing += Lead.objects.filter(email__in=good[start : start + 5000]).count()
    result.to_update = existing
    result.to_create = len(good) - existing
    return result


def _unknown_references(
    campaign_lines: dict[int | str, list[int]],
    owner_lines: dict[int | str, list[int]],
    actor: Any,
) -> Iterator[tuple[str, list[int]]]:
    """Campaigns and owners the file names that do not exist: one query each."""
    refs = list(campaign_lines)
    found: set[int | str] = set()
    ids = [r for r in refs if isinstance(r, int)]
    names = [r for r in refs if isinstance(r, str)]
    if refs:
        for pk, name in Campaign.objects.filter(Q(pk__in=ids) | Q(name__in=names)).values_list(
            "pk", "name"
        ):
            found.update((pk, name))
    for ref in refs:
        if ref not in found:
            yield f'column "campaign": no campaign "{ref}"', campaign_lines[ref]
    refs = list(owner_lines)
    ids = [r for r in refs if isinstance(r, int)]
    names = [r for r in refs if isinstance(r, str)]
    found = set()
    if refs:
        users = get_user_model().objects.filter(Q(pk__in=ids) | Q(username__in=names))
        for pk, username in (
            users.filter(roles.marketer_q(), is_active=True)
            .values_list("pk", "username")
            .distinct()
        ):
            found.update((pk, username))
    for ref in refs:
        if ref not in found:
            yield f'column "owner": no active marketer "{ref}"', owner_lines[ref]


# --- the write ----------------------------------------------------------------------------


def import_write(
    *,
    open_file: Opener,
    mapping: HeaderMapping,
    skip: set[int],
    actor: Any = None,
    batch_size: int = BATCH_SIZE,
    keep_before: bool = False,
    on_batch: Callable[[list[int], services.BulkOutcome], None] | None = None,
) -> tuple[int, int]:
    """Upsert every row not in `skip`, in batches: (created, updated). A row refused now that
    passed the check (a campaign deleted meanwhile) raises Conflict naming its line; the
    caller's transaction or undo takes the written batches back."""
    now = timezone.now()
    created = updated = 0
    batch: list[MappedRow] = []

    def flush() -> None:
        with _gc_paused():
            _flush()

    def _flush() -> None:
        nonlocal created, updated
        outcome = services.leads_bulk_upsert(
            rows=[r.raw for r in batch],
            actor=actor,
            now=now,
            blank_is_missing=True,
            allow_events=False,
            keep_before=keep_before,
        )
        if outcome.failed:
            first = next(r for r in outcome.results if r["status"] == "error")
            raise Conflict(
                f"line {batch[first['row']].line}: {first['errors']} (changed since the "
                "check); nothing was imported.",
                code="import_changed",
            )
        created += outcome.created
        updated += outcome.updated
        if on_batch:
            on_batch([r.line for r in batch], outcome)

    for row in mapped_rows(open_file, mapping):
        if row.line in skip or row.problems:
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            flush()
            batch = []
    if batch:
        flush()
    return created, updated


# --- saved mappings and source aliases ----------------------------------------------------


def import_mapping_save(*, name: str, columns: Mapping[str, str], actor: Any) -> ImportMapping:
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the mapping a name.", field="mapping_name")
    mapping, _ = ImportMapping.objects.update_or_create(
        name=name,
        defaults={"columns": dict(columns), "created_by": actor, "updated_at": timezone.now()},
    )
    return mapping


def import_mapping_get(*, name: str) -> ImportMapping:
    mapping = ImportMapping.objects.filter(name=name).first()
    if mapping is None:
        known = ", ".join(ImportMapping.objects.values_list("name", flat=True)) or "none yet"
        raise ValidationFailed(f'No saved mapping "{name}" (saved: {known}).', field="mapping")
    return mapping


def source_alias_save(*, alias: SourceAlias) -> SourceAlias:
    alias.name = alias.name.strip()
    alias.key = normalise(alias.name)
    alias.save()
    return alias


# --- imports from the page ----------------------------------------------------------------


def _opener(lead_import: LeadImport) -> Opener:
    content = bytes(lead_import.content)
    return lambda: io.BytesIO(content)


def lead_import_start(*, actor: Any, file_name: str, content: bytes) -> LeadImport:
    """Keep an uploaded file for the mapping step; a file that cannot be read is refused."""
    header, _ = read_header(lambda: io.BytesIO(content))
    return LeadImport.objects.create(
        created_by=actor,
        created_at=timezone.now(),
        file_name=file_name[:255],
        content=content,
        header=header,
        columns={},  # nothing chosen yet: the mapping step shows the recognition
    )


def lead_import_mapping(lead_import: LeadImport) -> HeaderMapping:
    return mapping_for(_opener(lead_import), chosen=lead_import.columns)


def lead_import_map(
    *, lead_import: LeadImport, columns: Mapping[str, str], skip_bad_rows: bool
) -> HeaderMapping:
    """Keep the mapping step's choices; a mapping with problems (a field filled twice) is
    refused naming them."""
    if lead_import.status not in (ImportStatus.UPLOADED, ImportStatus.CHECKED):
        raise Conflict(
            f"This import is already {lead_import.get_status_display().lower()}.",
            code="import_started",
        )
    mapping = mapping_for(_opener(lead_import), chosen=columns)
    lead_import.columns = dict(columns)
    lead_import.skip_bad_rows = skip_bad_rows
    lead_import.save(update_fields=["columns", "skip_bad_rows"])
    if not mapping.ok:
        raise ValidationFailed(" ".join(mapping.problems), field="columns")
    return mapping


def lead_import_check(
    *, lead_import: LeadImport, columns: Mapping[str, str], skip_bad_rows: bool, actor: Any
) -> CheckResult:
    """The dry run, here and now (a small file): the counts and the bad rows, kept on the
    import. Writes no lead."""
    mapping = lead_import_map(lead_import=lead_import, columns=columns, skip_bad_rows=skip_bad_rows)
    return _dry_run(lead_import, mapping, actor)


def lead_import_check_queue(
    *, lead_import: LeadImport, columns: Mapping[str, str], skip_bad_rows: bool
) -> None:
    """The dry run of a large file, as a task (leads.tasks.lead_import_check) the page polls."""
    lead_import_map(lead_import=lead_import, columns=columns, skip_bad_rows=skip_bad_rows)
    with transaction.atomic():
        claimed = LeadImport.objects.filter(
            pk=lead_import.pk, status__in=[ImportStatus.UPLOADED, ImportStatus.CHECKED]
        ).update(
            status=ImportStatus.CHECKING,
            processed_rows=0,
            # For the bar: the file's lines less the header (a quoted cell may span lines).
            total_rows=max(bytes(lead_import.content).count(b"\n") - 1, 1),
            message="",
        )
        if not claimed:
            raise Conflict("This import was started already.", code="import_started")
        services.enqueue_task("leads.tasks.lead_import_check", lead_import_id=lead_import.pk)
    lead_import.refresh_from_db()


def lead_import_check_run(*, lead_import_id: int) -> str:
    """The queued dry run (safe to run twice: it only reads the file and counts)."""
    lead_import = LeadImport.objects.filter(pk=lead_import_id, status=ImportStatus.CHECKING).first()
    if lead_import is None:
        return "not checking"

    def progress(rows: int) -> None:
        if rows % 2000 == 0:
            LeadImport.objects.filter(pk=lead_import_id).update(processed_rows=rows)

    try:
        mapping = lead_import_mapping(lead_import)
        _dry_run(lead_import, mapping, lead_import.created_by, on_row=progress)
    except (ImportRefused, ValidationFailed) as exc:
        LeadImport.objects.filter(pk=lead_import_id).update(
            status=ImportStatus.UPLOADED, message=str(getattr(exc, "message", exc))
        )
        return "refused"
    return "checked"


def _dry_run(
    lead_import: LeadImport,
    mapping: HeaderMapping,
    actor: Any,
    on_row: Callable[[int], None] | None = None,
) -> CheckResult:
    result = import_check(
        open_file=_opener(lead_import), mapping=mapping, actor=actor, on_row=on_row
    )
    lead_import.total_rows = result.total
    lead_import.processed_rows = result.total
    lead_import.to_create = result.to_create
    lead_import.to_update = result.to_update
    lead_import.errors = [[line, why] for line, why in result.bad.items()]
    lead_import.rejected_count = len(result.bad)
    lead_import.status = ImportStatus.CHECKED
    lead_import.message = ""
    lead_import.save()
    return result


def lead_import_queue(*, lead_import: LeadImport) -> LeadImport:
    """Confirm a checked import; the task (leads.tasks.lead_import_run) writes it."""
    if lead_import.errors and not lead_import.skip_bad_rows:
        raise RuleViolation(
            f"{len(lead_import.errors):,} rows are bad; fix the file, or choose to skip bad "
            "rows and check again.",
            code="bad_rows",
        )
    with transaction.atomic():
        claimed = LeadImport.objects.filter(pk=lead_import.pk, status=ImportStatus.CHECKED).update(
            status=ImportStatus.QUEUED
        )
        if not claimed:
            raise Conflict("This import was started already.", code="import_started")
        services.enqueue_task("leads.tasks.lead_import_run", lead_import_id=lead_import.pk)
    lead_import.refresh_from_db()
    return lead_import


def lead_import_run(*, lead_import_id: int) -> str:
    """Write a queued import in batches, each committed with its records (so the page's
    progress moves and the import can be undone); a failure half-way takes the written batches
    back. Safe to run twice: a run that finds the import running (its worker died) takes the
    partial write back and starts again."""
    now = timezone.now()
    claimed = LeadImport.objects.filter(
        pk=lead_import_id, status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]
    ).update(status=ImportStatus.RUNNING, started_at=now)
    if not claimed:
        return "not queued"
    lead_import = LeadImport.objects.get(pk=lead_import_id)
    _revert(lead_import)
    LeadImport.objects.filter(pk=lead_import.pk).update(
        processed_rows=0, created_count=0, updated_count=0
    )
    skip = {int(line) for line, _ in lead_import.errors}
    try:
        mapping = lead_import_mapping(lead_import)
        actor = lead_import.created_by

        def on_batch(lines: list[int], outcome: services.BulkOutcome) -> None:
            insert_rows(
                LeadImportChange,
                [
                    {
                        "lead_import_id": lead_import.pk,
                        "lead_id": answer["id"],
                        "created": answer["status"] == "created",
                        "before": answer.get("before", {}),
                    }
                    for answer in outcome.results
                ],
                columns=("lead_import_id", "lead_id", "created", "before"),
                skip_conflicts=False,
            )
            LeadImport.objects.filter(pk=lead_import.pk).update(
                processed_rows=F("processed_rows") + len(lines),
                created_count=F("created_count") + outcome.created,
                updated_count=F("updated_count") + outcome.updated,
            )

        _write_committing_batches(lead_import, mapping, skip, actor, on_batch)
    except Exception as exc:
        _revert(lead_import)
        LeadImport.objects.filter(pk=lead_import.pk).update(
            status=ImportStatus.FAILED,
            finished_at=timezone.now(),
            message=f"{getattr(exc, 'message', exc)} Nothing was kept.",
        )
        if isinstance(exc, Conflict | ImportRefused | ValidationFailed):
            return "failed"
        raise
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=ImportStatus.DONE, finished_at=timezone.now()
    )
    return "done"


def _write_committing_batches(
    lead_import: LeadImport,
    mapping: HeaderMapping,
    skip: set[int],
    actor: Any,
    on_batch: Callable[[list[int], services.BulkOutcome], None],
) -> None:
    # Each batch commits with its change records: the progress is visible, and what was
    # written is known if a later batch fails.
    rows = mapped_rows(_opener(lead_import), mapping)
    now = timezone.now()
    batch: list[MappedRow] = []

    def flush() -> None:
        with _gc_paused(), transaction.atomic():
            if connection.vendor == "postgresql":
                # Each batch is recorded with its change rows in the same transaction, and a
                # rerun takes a partial import back: a batch lost to a server crash is as if
                # never written, so its commit need not wait for the disk.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            outcome = services.leads_bulk_upsert(
                rows=[r.raw for r in batch],
                actor=actor,
                now=now,
                blank_is_missing=True,
                allow_events=False,
                keep_before=True,
                history_reason=import_history_reason(lead_import),
            )
            if outcome.failed:
                first = next(r for r in outcome.results if r["status"] == "error")
                raise Conflict(
                    f"line {batch[first['row']].line}: {first['errors']} (changed since the "
                    "dry run).",
                    code="import_changed",
                )
            on_batch([r.line for r in batch], outcome)

    for row in rows:
        if row.line in skip or row.problems:
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            flush()
            batch = []
    if batch:
        flush()


def import_history_reason(lead_import: LeadImport) -> str:
    """The change reason on the audit rows an import writes: what its undo looks for."""
    return f"import {lead_import.pk}"


def _revert(lead_import: LeadImport, *, actor: Any = None) -> int:
    """Take back what the import wrote, from the audit rows it wrote (tagged with
    `import_history_reason`): its created leads removed, the fields it changed restored to the
    values of each lead's audit row before the import's (then rescored). A field changed again
    since by someone else keeps that later value. Returns how many leads were touched."""
    history = history_model(Lead)
    reason = import_history_reason(lead_import)
    undo_reason = f"undo {reason}"
    columns = tracked_columns(Lead)
    now = timezone.now()
    touched = 0
    with transaction.atomic():
        # A run taken back before (a worker died half-way) left its rows; only the rows
        # written since the last take-back are this write's.
        rows = history.objects.filter(history_change_reason=reason)  # type: ignore[attr-defined]
        last_undo = (
            history.objects.filter(history_change_reason=undo_reason)  # type: ignore[attr-defined]
            .order_by("-history_id")
            .values_list("history_id", flat=True)
            .first()
        )
        if last_undo is not None:
            rows = rows.filter(history_id__gt=last_undo)
        latest: dict[int, tuple[int, str]] = {}
        for history_id, lead_id, kind in rows.order_by("history_id").values_list(
            "history_id", "id", "history_type"
        ):
            latest[lead_id] = (history_id, kind)
        created = sorted(pk for pk, (_, kind) in latest.items() if kind == CREATED)
        for start in range(0, len(created), BATCH_SIZE):
            doomed = Lead.objects.filter(pk__in=created[start : start + BATCH_SIZE])
            # One INSERT for the removal rows instead of one per lead from the signal.
            history_rows_insert(
                Lead,
                list(doomed.values(*columns)),
                history_type=DELETED,
                actor=actor,
                at=now,
                reason=undo_reason,
            )
            with deletes_recorded():
                doomed.delete()
        touched += len(created)
        changed = sorted((h, pk) for pk, (h, kind) in latest.items() if kind == CHANGED)
        for start in range(0, len(changed), BATCH_SIZE):
            touched += _restore(changed[start : start + BATCH_SIZE], actor, undo_reason, now)
        LeadImportChange.objects.filter(lead_import=lead_import).delete()
    return touched


def _restore(chunk: list[tuple[int, int]], actor: Any, undo_reason: str, now: dt.datetime) -> int:
    """Put back, for each (audit row id, lead id), the fields that row changed: their values
    in the lead's previous audit row."""
    history = history_model(Lead)
    manager = history.objects  # type: ignore[attr-defined]
    columns = [c for c in tracked_columns(Lead) if c in services.WRITABLE_COLUMNS]
    previous = manager.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).order_by(
        "-history_id"
    )
    pairs = dict(
        manager.filter(history_id__in=[h for h, _ in chunk])
        .annotate(before_id=Subquery(previous.values("history_id")[:1]))
        .values_list("history_id", "before_id")
    )
    snapshots = {
        row["history_id"]: row
        for row in manager.filter(
            history_id__in=[*pairs, *(b for b in pairs.values() if b is not None)]
        ).values("history_id", *columns)
    }
    leads = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update()
        .filter(pk__in=[pk for _, pk in chunk])
        .order_by("pk")
    }
    fields: set[str] = set()
    restored: list[Lead] = []
    for history_id, lead_id in chunk:
        lead, before_id = leads.get(lead_id), pairs.get(history_id)
        if lead is None or before_id is None:
            continue  # removed since, or no audit row before the import's: nothing to go back to
        after, before = snapshots[history_id], snapshots[before_id]
        changes = {
            c: before[c] for c in columns if after[c] != before[c] and getattr(lead, c) == after[c]
        }
        for name, value in changes.items():
            setattr(lead, name, value)
        if changes:
            fields.update(changes)
            restored.append(lead)
    if restored:
        Lead.objects.bulk_update(restored, sorted(fields))
        services.leads_rescore(leads=restored)
        history_rows_insert(
            Lead,
            [{c: getattr(lead, c) for c in tracked_columns(Lead)} for lead in restored],
            history_type=CHANGED,
            actor=actor,
            at=now,
            reason=undo_reason,
        )
    return len(chunk)


def lead_import_undo(*, lead_import: LeadImport, actor: Any, now: dt.datetime | None = None) -> int:
    """Undo a finished import within 24 hours: refused, naming them, when any of its leads has
    been promoted to sales since."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
        if locked.status != ImportStatus.DONE:
            raise Conflict(
                f"This import is {locked.get_status_display().lower()}; only a finished import "
                "can be undone.",
                code="import_not_done",
            )
        assert locked.finished_at is not None
        if now - locked.finished_at > UNDO_WINDOW:
            raise RuleViolation(
                "An import can be undone for 24 hours after it finished; this one finished "
                f"{locked.finished_at:%Y-%m-%d %H:%M} UTC.",
                code="undo_expired",
            )
        ids = history_model(Lead).objects.filter(  # type: ignore[attr-defined]
            history_change_reason=import_history_reason(locked)
        )
        promoted = list(
            Lead.objects.filter(pk__in=ids.values("id"), mql_at__gte=locked.started_at)
            .order_by("email")
            .values_list("email", flat=True)[:6]
        )
        if promoted:
            shown = ", ".join(promoted[:5]) + (" and more" if len(promoted) > 5 else "")
            raise Conflict(
                "This import cannot be undone: some of its leads have been promoted to sales "
                f"since ({shown}). Nothing was undone.",
                code="promoted_since",
            )
        touched = _revert(locked, actor=actor)
        locked.status = ImportStatus.UNDONE
        locked.undone_at = now
        locked.save(update_fields=["status", "undone_at"])
    return touched


def lead_imports_purge(*, now: dt.datetime | None = None) -> int:
    """Past the undo window, an import keeps its counts only: the file, the row errors and the
    before values go (personal data), and an upload never imported goes whole."""
    now = now or timezone.now()
    cutoff = now - UNDO_WINDOW
    abandoned, _ = LeadImport.objects.filter(
        created_at__lte=cutoff,
        status__in=[ImportStatus.UPLOADED, ImportStatus.CHECKED],
    ).delete()
    old = LeadImport.objects.filter(
        purged_at__isnull=True,
        created_at__lte=cutoff,
        status__in=[ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.UNDONE],
    ).filter(Q(finished_at__isnull=True) | Q(finished_at__lte=cutoff))
    ids = list(old.values_list("pk", flat=True))
    with transaction.atomic():
        LeadImportChange.objects.filter(lead_import_id__in=ids).delete()
        LeadImport.objects.filter(pk__in=ids).update(content=b"", errors=[], purged_at=now)
    return len(ids) + abandoned


def rejected_rows_csv(lead_import: LeadImport) -> Iterator[list[str]]:
    """The file's header and its rejected rows, each with the reason in a last column."""
    why = {int(line): reason for line, reason in lead_import.errors}
    try:
        with _records(_opener(lead_import)) as rows:
            _, header = next(rows, (0, []))
            yield [*header, "error"]
            for line, cells in rows:
                if line in why:
                    yield [str(csvfile.escape_cell(c)) for c in cells] + [why[line]]
    except csvfile.CsvFileError:
        return
