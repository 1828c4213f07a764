"""The audit trail: django-simple-history's historical rows (who, when, the values after each
change; the admin's History page shows the differences), and what the bulk paths need to write
them set-based.

Single-object writes (admin, pages, API, services) get their row from the library's signals,
with the actor set on the instance by the service (`audited`) or taken from the request by
`HistoryRequestMiddleware`. The bulk paths (the bulk API, imports) write raw SQL and so write
their rows themselves, one INSERT per batch (`history_rows_insert`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import models
from simple_history.manager import HistoryDescriptor
from simple_history.models import HistoricalRecords

from core.types import Actor

M = TypeVar("M", bound=models.Model)

# Set while a caller deletes rows whose "-" history it has already written in bulk.
_deletes_recorded: ContextVar[bool] = ContextVar("deletes_recorded", default=False)

CREATED, CHANGED, DELETED = "+", "~", "-"


class _HistoryManagerBuiltOnce(HistoryDescriptor):
    """`Model.history` / `instance.history` with the manager class built once. The library's
    descriptor builds a new class (`from_queryset`, which walks the queryset's members) on
    every access, and every single-object save asks for it to write its historical row: a
    tenth of an API lead post."""

    _built: Any = None

    def __get__(self, instance: Any, owner: Any) -> Any:
        built = self._built
        if built is None:
            built = self._built = self.manager_class.from_queryset(self.queryset_class)
        return built(self.model, instance)


class AuditRecords(HistoricalRecords):
    """HistoricalRecords whose delete rows a bulk delete can write itself, in one INSERT,
    instead of one INSERT per deleted row from the signal; its manager class is built once
    (`_HistoryManagerBuiltOnce`)."""

    def finalize(self, sender: Any, **kwargs: Any) -> None:
        super().finalize(sender, **kwargs)
        descriptor = sender.__dict__.get(self.manager_name)
        if type(descriptor) is HistoryDescriptor:
            setattr(
                sender,
                self.manager_name,
                _HistoryManagerBuiltOnce(
                    descriptor.model,
                    manager=descriptor.manager_class,
                    queryset=descriptor.queryset_class,
                ),
            )

    def post_delete(self, instance: Any, using: Any = None, **kwargs: Any) -> None:
        if _deletes_recorded.get():
            return
        super().post_delete(instance, using=using, **kwargs)


@contextmanager
def deletes_recorded() -> Iterator[None]:
    token = _deletes_recorded.set(True)
    try:
        yield
    finally:
        _deletes_recorded.reset(token)


def audited(instance: M, *, actor: Actor | None, reason: str | None = None) -> M:
    """Name the actor (and optionally why) on the row the next save or delete writes."""
    if actor is not None and getattr(actor, "pk", None) is not None:
        instance._history_user = actor  # type: ignore[attr-defined]
    if reason:
        instance._change_reason = reason  # type: ignore[attr-defined]
    return instance


def history_model(model: type[models.Model]) -> type[models.Model]:
    return model.history.model  # type: ignore[attr-defined]


def tracked_columns(model: type[models.Model]) -> tuple[str, ...]:
    """The model's columns its historical rows keep (attnames; the primary key first)."""
    history = history_model(model)
    names = {f.attname for f in history._meta.concrete_fields}
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


def history_rows_insert(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    history_type: str,
    actor: Actor | None,
    at: dt.datetime,
    reason: str | None = None,
) -> int:
    """One INSERT of historical rows for `rows` (each the model's column values, the primary
    key included): what the signal would have written for each, set-based. A row may carry
    its own type under "history_type" (creations and changes in one statement)."""
    from core.bulksql import insert_rows

    if not rows:
        return 0
    history = history_model(model)
    columns = tracked_columns(model)
    user_id = getattr(actor, "pk", None) if actor is not None else None
    extra = {
        "history_date": at,
        "history_type": history_type,
        "history_user_id": user_id,
        "history_change_reason": reason,
    }
    insert_rows(
        history,
        [
            {
                **{c: row[c] for c in columns},
                **extra,
                "history_type": row.get("history_type", history_type),
            }
            for row in rows
        ],
        columns=(*columns, *extra),
    )
    return len(rows)
