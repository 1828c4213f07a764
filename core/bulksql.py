"""Set-based INSERT and UPDATE of many rows in ONE statement, whatever the number of rows.

Django's bulk_create/bulk_update split a batch by the backend's parameter limit (999 on SQLite:
a 1,000-row lead batch would become ~25 statements) and, on PostgreSQL, cannot both skip
conflicting rows and return the ids of the inserted ones. Here the rows travel as one array per
column that PostgreSQL zips back into rows (`unnest`), or as one JSON parameter that SQLite
unpacks (`json_each`), so a batch is one statement and one round trip, and `ON CONFLICT DO
NOTHING RETURNING` tells exactly which rows went in.

Column lists and types come from the model's own fields, so the SQL follows the model.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


@contextmanager
def fast_cursor() -> Iterator[Any]:
    """Django's cursor (logged, errors wrapped, in the current transaction); on PostgreSQL one
    that binds parameters on the server. Django binds on the client by default, which quotes
    a 1,000-element array or a 1,000-placeholder IN list in Python: ~100 ms a statement."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql import base as postgresql

    db: Any = connection
    db.ensure_connection()
    raw: Any = postgresql.ServerBindingCursor(db.connection)  # type: ignore[call-arg]
    try:
        yield db._prepare_cursor(raw)
    finally:
        raw.close()


def values_in(
    model: type[models.Model], *, columns: Sequence[str], field: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The `columns` (attnames) of the rows whose `field` is one of `values`: one statement,
    the values bound on the server as one array (a 2,000-item IN list quoted by the client
    costs more than the query)."""
    if not values:
        return []
    if connection.vendor != "postgresql":
        lookup = {f"{field}__in": list(values)}
        return list(model._default_manager.filter(**lookup).values_list(*columns))
    table = _quote(model._meta.db_table)
    selected = ", ".join(_quote(f.column) for f in _fields(model, columns))
    where = _quote(model._meta.get_field(field).column)  # type: ignore[union-attr]
    with fast_cursor() as cursor:
        cursor.execute(f"SELECT {selected} FROM {table} WHERE {where} = ANY(%b)", [list(values)])
        return [tuple(row) for row in cursor.fetchall()]


def select_for_update_in(model: type[M], *, field: str, values: Sequence[Any]) -> list[M]:
    """The rows whose `field` is one of `values`, locked FOR UPDATE in primary-key order (so
    that concurrent batches queue instead of deadlocking), as model instances."""
    if not values:
        return []
    if connection.vendor != "postgresql":
        lookup = {f"{field}__in": list(values)}
        return list(model._default_manager.select_for_update().filter(**lookup).order_by("pk"))
    fields = list(model._meta.concrete_fields)
    table = _quote(model._meta.db_table)
    columns = ", ".join(_quote(f.column) for f in fields)
    where = _quote(model._meta.get_field(field).column)  # type: ignore[union-attr]
    pk = _quote(model._meta.pk.column if model._meta.pk else "id")
    sql = f"SELECT {columns} FROM {table} WHERE {where} = ANY(%b) ORDER BY {pk} FOR UPDATE"
    json_positions = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    found = []
    with fast_cursor() as cursor:
        cursor.execute(sql, [list(values)])
        for row in cursor.fetchall():
            row = list(row)
            for i in json_positions:
                if isinstance(row[i], str):  # Django loads jsonb as text; the field decodes it
                    row[i] = json.loads(row[i])
            found.append(model.from_db(connection.alias, [f.attname for f in fields], row))
    return found


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


def _pg_columns(
    fields: Sequence[models.Field[Any, Any]], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str], list[Any], list[Any]]:
    """(`unnest(%b::type[], ...) AS r(col, ...)`, the value expression of each field, the
    parameters of those expressions, the parameters of the unnest).

    Each column travels as one array, dumped in binary (%b): psycopg's text array quoting runs
    a regex per element, its binary dump does not. A column holding the same value on every
    row (created_at, the stage of new leads, the many empty timestamps) is sent once, as a
    scalar, which halves what a 1,000-lead batch costs to send and unpack. The first field
    (the key) is always an array, so there is always a row source.
    """
    casts: list[str] = []
    names: list[str] = []
    exprs: list[str] = []
    expr_params: list[Any] = []
    arrays: list[Any] = []
    for i, f in enumerate(fields):
        values = list(map(operator.methodcaller("get", f.attname), rows))  # a loop in C
        col = _quote(f.column)
        is_json = isinstance(f, models.JSONField)
        if is_json:
            values = [None if v is None else json.dumps(v) for v in values]
        db_type = "text" if is_json else f.db_type(connection)
        first = values[0]
        # Equal on every row and of one type (True == 1): counted in C, not in a Python loop.
        constant = i > 0 and values.count(first) == len(values) and len(set(map(type, values))) == 1
        if constant:
            exprs.append(f"%b::{db_type}" + ("::jsonb" if is_json else ""))
            expr_params.append(first)
        else:
            casts.append(f"%b::{db_type}[]")
            names.append(col)
            exprs.append(f"r.{col}" + ("::jsonb" if is_json else ""))
            arrays.append(values)
    source = f"unnest({', '.join(casts)}) AS r({', '.join(names)})"
    return source, exprs, expr_params, arrays


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    returning: Sequence[str] = (),
    skip_conflicts: bool = True,
) -> list[tuple[Any, ...]]:
    """INSERT rows (dicts keyed by attname) in one statement; rows that hit a unique constraint
    are skipped when `skip_conflicts` (otherwise the statement, and its transaction, fails).
    Returns the `returning` columns of the inserted rows.

    Without `columns`, every concrete field but the primary key is written, a field missing
    from a row taking the field's default (the database itself has no column defaults)."""
    if not rows:
        return []
    vendor = connection.vendor
    if columns is None:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        defaults = {f.attname: f.get_default() for f in fields}
        rows = [{**defaults, **row} for row in rows]
    else:
        fields = _fields(model, columns)
    table = _quote(model._meta.db_table)
    target = ", ".join(_quote(f.column) for f in fields)
    conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    ret = ""
    if returning:
        ret = " RETURNING " + ", ".join(_quote(f.column) for f in _fields(model, returning))
    if vendor == "postgresql":
        unnest, exprs, expr_params, arrays = _pg_columns(fields, rows)
        sql = f"INSERT INTO {table} ({target}) SELECT {', '.join(exprs)} FROM {unnest}"
        params = [*expr_params, *arrays]
    elif vendor == "sqlite":
        source = ", ".join(f"json_extract(value, '$.{f.attname}')" for f in fields)
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
        sql = f"INSERT INTO {table} ({target}) SELECT {source} FROM json_each(%s) WHERE true"
        params = [_payload(fields, rows, vendor)]
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise NotImplementedError(vendor)
    with fast_cursor() as cursor:
        cursor.execute(sql + conflict + ret, params)
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
        unnest, exprs, expr_params, arrays = _pg_columns([key_field, *fields], rows)
        sets = ", ".join(
            f"{_quote(f.column)} = {expr}" for f, expr in zip(fields, exprs[1:], strict=True)
        )
        params = [*expr_params, *arrays]
        sql = (
            f"UPDATE {table} AS t SET {sets} FROM {unnest} "
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
        params = [_payload([key_field, *fields], rows, vendor)]
    else:  # pragma: no cover
        raise NotImplementedError(vendor)
    with fast_cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def insert_select_sql(
    model: type[models.Model],
    exprs: Mapping[str, str],
    *,
    source: str,
    params: dict[str, Any],
    returning: Sequence[str] = (),
) -> str:
    """`INSERT INTO <table> (...) SELECT ... FROM <source>` for a statement built in SQL (a
    CTE's rows, say), with pyformat parameters: every concrete field but the primary key, from
    its SQL expression in `exprs` (by attname), else its default (added to `params`) or NULL,
    as insert_rows fills a missing value."""
    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(_quote(f.column))
        if f.attname in exprs:
            values.append(exprs[f.attname])
        elif f.null and not f.has_default():
            values.append("NULL")
        else:
            key = f"{model._meta.model_name}_default_{f.attname}"
            params[key] = f.get_db_prep_save(f.get_default(), connection)
            values.append(f"%({key})s")
    ret = ""
    if returning:
        ret = " RETURNING " + ", ".join(_quote(f.column) for f in _fields(model, returning))
    table = _quote(model._meta.db_table)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}{ret}"
    )
