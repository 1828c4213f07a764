"""Undoing an import within its window (from the audit rows it wrote), taking back a failed
run, and purging the personal data of imports past the window."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from core.errors import Conflict, RuleViolation
from core.types import Actor
from leads import services
from leads.history import (
    CHANGED,
    CREATED,
    DELETED,
    deletes_recorded,
    history_model,
    history_rows_insert,
    tracked_columns,
)
from leads.imports.writing import BATCH_SIZE, import_history_reason
from leads.models import ImportStatus, Lead, LeadImport, LeadImportChange

UNDO_WINDOW = dt.timedelta(hours=24)


def revert(lead_import: LeadImport, *, actor: Actor | None = None) -> int:
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


def _restore(
    chunk: list[tuple[int, int]], actor: Actor | None, undo_reason: str, now: dt.datetime
) -> int:
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


def lead_import_undo(
    *, lead_import: LeadImport, actor: Actor, now: dt.datetime | None = None
) -> int:
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
        touched = revert(locked, actor=actor)
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
