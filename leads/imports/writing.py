"""Writing an import: its rows upserted in set-based batches (leads.services.leads_bulk_upsert),
all in the caller's transaction, or each batch committed with its change records."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict
from core.types import Actor
from leads import services
from leads.imports.reading import MappedRow, Opener, gc_paused, mapped_rows, opener
from leads.imports.recognition import HeaderMapping
from leads.models import LeadImport

# Rows per set-based upsert: big enough that the per-batch queries and commit are a small share,
# small enough that the page's progress bar moves every second or two.
BATCH_SIZE = 2000


def import_write(
    *,
    open_file: Opener,
    mapping: HeaderMapping,
    skip: set[int],
    actor: Actor | None = None,
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
        with gc_paused():
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


def write_committing_batches(
    lead_import: LeadImport,
    mapping: HeaderMapping,
    skip: set[int],
    actor: Actor | None,
    on_batch: Callable[[list[int], services.BulkOutcome], None],
    *,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Upsert the rows not in `skip` in batches, each committed with what `on_batch` records:
    the progress is visible, and what was written is known if a later batch fails."""
    # Each batch commits with its change records: the progress is visible, and what was
    # written is known if a later batch fails.
    rows = mapped_rows(opener(lead_import), mapping)
    now = timezone.now()
    batch: list[MappedRow] = []

    def flush() -> None:
        with gc_paused(), transaction.atomic():
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
        if len(batch) >= batch_size:
            flush()
            batch = []
    if batch:
        flush()


def import_history_reason(lead_import: LeadImport) -> str:
    """The change reason on the audit rows an import writes: what its undo looks for."""
    return f"import {lead_import.pk}"
