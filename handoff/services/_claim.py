"""The claim of a transition and its event row as SQL built here, not by the ORM.

`_transition` (transitions.py) claims a handoff with a conditional UPDATE and writes one event.
Through the ORM that is a QuerySet, an UpdateQuery and an InsertQuery built and compiled on
every request (about a millisecond of CPU, more than PostgreSQL spends running them). The
statements are simple enough to write out: the columns come from the models, every value goes
through its field's own `get_db_prep_save` (as the ORM's compiler does), and the SQL text of
each shape (which columns change, which guard) is built once per process.

On PostgreSQL both are ONE statement: the UPDATE in a data-modifying CTE, the event inserted
from its RETURNING row, so a claim that matches nothing inserts nothing and the request saves a
round trip. Elsewhere (SQLite, the demo's database) the UPDATE runs alone, its row count says
whether the claim won, and the event is inserted through the ORM.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model

from handoff.models import Handoff, HandoffEvent

# The event's columns after its handoff (which the CTE's RETURNING row supplies).
_EVENT_FIELDS: tuple[Field, ...] = tuple(
    f for f in HandoffEvent._meta.concrete_fields if not f.primary_key and f.attname != "handoff_id"
)


def _column(field: Any) -> str:
    """A concrete field's column (typed optional for fields without one)."""
    assert field.column is not None
    return str(field.column)


def _field(name: str) -> Field:
    found = Handoff._meta.get_field(name)
    assert isinstance(found, Field) and found.concrete, name
    return found


@functools.lru_cache(maxsize=128)
def _claim_sql(alias: str, sets: tuple[str, ...], guard: tuple[tuple[str, bool], ...]) -> str:
    """The claim (with its event on PostgreSQL) for one shape: `sets` the handoff fields
    written, `guard` each guarded field with whether it must be NULL."""
    connection = connections[alias]
    vendor, quote = connection.vendor, connection.ops.quote_name
    table = quote(Handoff._meta.db_table)
    pk = quote(_column(Handoff._meta.pk))
    assignments = ", ".join(f"{quote(_column(_field(name)))} = %s" for name in sets)
    where = [f"{pk} = %s", f"{quote(_column(_field('status')))} = %s"]
    for name, is_null in guard:
        column = quote(_column(_field(name)))
        where.append(f"{column} IS NULL" if is_null else f"{column} = %s")
    update = f"UPDATE {table} SET {assignments} WHERE {' AND '.join(where)}"
    if vendor != "postgresql":
        return update
    events = quote(HandoffEvent._meta.db_table)
    event_pk = quote(_column(HandoffEvent._meta.pk))
    columns = ", ".join(quote(_column(f)) for f in _EVENT_FIELDS)
    handoff_column = quote(_column(HandoffEvent._meta.get_field("handoff")))
    placeholders = ", ".join(["%s"] * len(_EVENT_FIELDS))
    return (
        f"WITH claimed AS ({update} RETURNING {pk}) "
        f"INSERT INTO {events} ({handoff_column}, {columns}) "
        f"SELECT claimed.{pk}, {placeholders} FROM claimed RETURNING {event_pk}"
    )


def claim_and_record(
    handoff: Handoff,
    *,
    from_status: str,
    values: dict[str, Any],
    guard: dict[str, Any],
    event: HandoffEvent,
) -> bool:
    """UPDATE the handoff's `values` where it is still in `from_status` and every `guard` field
    holds the value the caller saw (None: IS NULL), and insert `event` when it matched. False,
    with nothing written, when the claim matched no row (someone else got there first)."""
    alias = router.db_for_write(Handoff)
    connection = connections[alias]
    params: list[Any] = []
    for name, value in values.items():
        field = _field(name)
        if isinstance(value, Model):
            value = value.pk
        params.append(field.get_db_prep_save(value, connection))
    params += [handoff.pk, from_status]
    for name, value in guard.items():
        if value is not None:
            params.append(_field(name).get_db_prep_value(value, connection, prepared=False))
    shape = tuple((name, value is None) for name, value in guard.items())
    sql = _claim_sql(alias, tuple(values), shape)
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.rowcount != 1:
                return False
        event.save(force_insert=True, using=alias)
        return True
    params += [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _EVENT_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = alias
    return True
