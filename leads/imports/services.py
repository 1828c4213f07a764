"""Lead imports from the import page, the admin's import (the page's views in the admin's frame)
and `manage.py import_leads`: an import's steps (upload, mapping, dry run, the run as a task,
undo), saved mappings and source aliases.

A file is read twice, streaming: the check reads every row (header recognition, value
conversion, the bulk API's rules, duplicates, unknown campaigns and owners) and writes nothing;
the write reads it again and upserts in set-based batches. All or nothing unless the user
chose to skip bad rows. The steps live in `reading`, `checking`, `writing` and `undo`; their
public names are re-exported here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.bulksql import insert_rows
from core.errors import Conflict, RuleViolation, ValidationFailed
from core.types import Actor
from leads import csvfile, services
from leads.imports.checking import CheckResult, import_check
from leads.imports.reading import (
    SAMPLES,
    ImportRefused,
    MappedRow,
    Opener,
    mapped_rows,
    mapping_for,
    opener,
    read_header,
    records,
)
from leads.imports.recognition import HeaderMapping, normalise
from leads.imports.undo import UNDO_WINDOW, lead_import_undo, lead_imports_purge, revert
from leads.imports.writing import (
    BATCH_SIZE,
    import_history_reason,
    import_write,
    write_committing_batches,
)
from leads.models import ImportMapping, ImportStatus, LeadImport, LeadImportChange, SourceAlias

__all__ = [
    "BATCH_SIZE",
    "SAMPLES",
    "UNDO_WINDOW",
    "CheckResult",
    "Conflict",
    "ImportRefused",
    "MappedRow",
    "Opener",
    "import_check",
    "import_history_reason",
    "import_mapping_get",
    "import_mapping_save",
    "import_write",
    "lead_import_check",
    "lead_import_check_queue",
    "lead_import_check_run",
    "lead_import_map",
    "lead_import_mapping",
    "lead_import_queue",
    "lead_import_run",
    "lead_import_start",
    "lead_import_undo",
    "lead_imports_purge",
    "mapped_rows",
    "mapping_for",
    "read_header",
    "rejected_rows_csv",
    "source_alias_save",
]


# --- saved mappings and source aliases ----------------------------------------------------


def import_mapping_save(*, name: str, columns: Mapping[str, str], actor: Actor) -> ImportMapping:
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


# --- an import from the page --------------------------------------------------------------


def lead_import_start(*, actor: Actor, file_name: str, content: bytes) -> LeadImport:
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
    return mapping_for(opener(lead_import), chosen=lead_import.columns)


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
    mapping = mapping_for(opener(lead_import), chosen=columns)
    lead_import.columns = dict(columns)
    lead_import.skip_bad_rows = skip_bad_rows
    lead_import.save(update_fields=["columns", "skip_bad_rows"])
    if not mapping.ok:
        raise ValidationFailed(" ".join(mapping.problems), field="columns")
    return mapping


def lead_import_check(
    *, lead_import: LeadImport, columns: Mapping[str, str], skip_bad_rows: bool, actor: Actor
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
    actor: Actor | None,
    on_row: Callable[[int], None] | None = None,
) -> CheckResult:
    result = import_check(
        open_file=opener(lead_import), mapping=mapping, actor=actor, on_row=on_row
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
    revert(lead_import)
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

        write_committing_batches(lead_import, mapping, skip, actor, on_batch, batch_size=BATCH_SIZE)
    except Exception as exc:
        revert(lead_import)
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


def rejected_rows_csv(lead_import: LeadImport) -> Iterator[list[str]]:
    """The file's header and its rejected rows, each with the reason in a last column."""
    why = {int(line): reason for line, reason in lead_import.errors}
    try:
        with records(opener(lead_import)) as rows:
            _, header = next(rows, (0, []))
            yield [*header, "error"]
            for line, cells in rows:
                if line in why:
                    yield [str(csvfile.escape_cell(c)) for c in cells] + [why[line]]
    except csvfile.CsvFileError:
        return
