"""Set-based INSERT and UPDATE of many rows in ONE statement, whatever the number of rows.

Django's bulk_create/bulk_update split a batch by the backend's parameter limit (999 on SQLite:
a 1,000-row lead batch would become ~25 statements) and, on PostgreSQL, cannot both skip
conflicting rows and return the ids of the inserted ones. Here the rows travel as a single JSON
parameter that the database unpacks itself (`jsonb_to_recordset` on PostgreSQL, `json_each` on
SQLite), so a batch is one statement and one round trip, and PostgreSQL's `ON CONFLICT DO NOTHING
RETURNING` tells exactly which rows went in.

Column lists and types come from the model's own fields, so the SQL follows the model.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models


def _fields(model: type[models.Model], names: Iterable[str]) -> list[models.Field[Any, Any]]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return [by_attname[name] for name in names]


def _encode(field: models.Field[Any, Any], value: Any, vendor: str) -> Any:
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        # PostgreSQL unpacks nested JSON into the jsonb column; SQLite stores JSON as text.
        return value if vendor == "postgresql" else json.dumps(value)
    if isinstance(field, models.DateTimeField) and isinstance(value, dt.datetime):
        if vendor == "postgresql":
            return value.isoformat()
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(field, models.DateField) and isinstance(value, dt.date):
        return value.isoformat()
    return value


def _payload(
    fields: Sequence[models.Field[Any, Any]], rows: Iterable[Mapping[str, Any]], vendor: str
) -> str:
    return json.dumps(
        [{f.attname: _encode(f, row.get(f.attname), vendor) for f in fields} for row in rows],
        separators=(",", ":"),
    )


def _quote(name: str | None) -> str:
    return connection.ops.quote_name(name or "")


def _pg_recordset(fields: Sequence[models.Field[Any, Any]]) -> str:
    columns = ", ".join(f"{_quote(f.column)} {f.db_type(connection)}" for f in fields)
    return f"jsonb_to_recordset(%s::jsonb) AS r({columns})"


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    returning: Sequence[str] = (),
    skip_conflicts: bool = True,
) -> list[tuple[Any, ...]]:
    """INSERT rows (dicts keyed by attname) in one statement; rows that hit a unique constraint
    are skipped when `skip_conflicts`. Returns the `returning` columns of the inserted rows."""
    if not rows:
        return []
    vendor = connection.vendor
    fields = _fields(model, columns)
    table = _quote(model._meta.db_table)
    target = ", ".join(_quote(f.column) for f in fields)
    conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    ret = ""
    if returning:
        ret = " RETURNING " + ", ".join(_quote(f.column) for f in _fields(model, returning))
    if vendor == "postgresql":
        source = ", ".join(f"r.{_quote(f.column)}" for f in fields)
        sql = f"INSERT INTO {table} ({target}) SELECT {source} FROM {_pg_recordset(fields)}"
    elif vendor == "sqlite":
        source = ", ".join(f"json_extract(value, '$.{f.attname}')" for f in fields)
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
        sql = f"INSERT INTO {table} ({target}) SELECT {source} FROM json_each(%s) WHERE true"
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise NotImplementedError(vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql + conflict + ret, [_payload(fields, rows, vendor)])
        return [tuple(r) for r in cursor.fetchall()] if returning else []


def update_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    key: str = "id",
) -> int:
    """UPDATE each row (matched on `key`) with its own values, in one statement."""
    if not rows:
        return 0
    vendor = connection.vendor
    key_field, *fields = _fields(model, [key, *columns])
    table = _quote(model._meta.db_table)
    if vendor == "postgresql":
        sets = ", ".join(f"{_quote(f.column)} = r.{_quote(f.column)}" for f in fields)
        sql = (
            f"UPDATE {table} AS t SET {sets} FROM {_pg_recordset([key_field, *fields])} "
            f"WHERE t.{_quote(key_field.column)} = r.{_quote(key_field.column)}"
        )
    elif vendor == "sqlite":
        sets = ", ".join(
            f"{_quote(f.column)} = json_extract(r.value, '$.{f.attname}')" for f in fields
        )
        sql = (
            f"UPDATE {table} SET {sets} FROM json_each(%s) AS r "
            f"WHERE {table}.{_quote(key_field.column)} = json_extract(r.value, '$.{key}')"
        )
    else:  # pragma: no cover
        raise NotImplementedError(vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [_payload([key_field, *fields], rows, vendor)])
        return int(cursor.rowcount)
