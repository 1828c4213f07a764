"""The handoff an action is taken on (handoff_for_action): the same read as the ORM's, its SQL
compiled once per process and its row turned into the same instances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from core.roles import is_manager, is_marketer, is_rep
from core.types import Visitor
from handoff.models import Handoff
from handoff.selectors.lists import handoffs_visible_to


def _action_queryset(user: Visitor, pk: int, with_lead_owner: bool) -> QuerySet[Handoff]:
    related = ["lead", "assigned_to", "promoted_by", "team", "calendar"]
    if with_lead_owner:
        related.append("lead__owner")
    # order_by(): first() would order by pk, and there is nothing to order.
    return handoffs_visible_to(user).select_related(*related).filter(pk=pk).order_by()[:1]


@dataclass(frozen=True)
class _CompiledAction:
    """The SQL of handoff_for_action for one visibility (everyone, own, nobody), compiled once
    per process: building it through the ORM (a 6-table join of ~126 columns) cost more than
    running it. `slots` say which parameter is the user's id and which the handoff's."""

    sql: str
    slots: tuple[str, ...]
    compiler: Any
    converters: dict[int, Any]
    names: list[str]
    span: tuple[int, int]
    populators: list[Any]


_compiled_actions: dict[tuple[str, bool], _CompiledAction] = {}
_USER_MARK, _PK_MARK = -7_000_001, -7_000_002


def _visibility(user: Visitor) -> str:
    if not getattr(user, "is_authenticated", False):
        return "none"
    if is_manager(user) or is_marketer(user):
        return "all"
    return "own" if is_rep(user) else "none"


def _compiled_action(visibility: str, with_lead_owner: bool) -> _CompiledAction | None:
    key = (visibility, with_lead_owner)
    found = _compiled_actions.get(key)
    if found is not None:
        return found
    from types import SimpleNamespace

    stand_in = SimpleNamespace(pk=_USER_MARK, is_authenticated=True)
    if visibility == "all":
        queryset = Handoff.objects.all()
    else:
        queryset = Handoff.objects.filter(assigned_to_id=stand_in.pk)
    related = ["lead", "assigned_to", "promoted_by", "team", "calendar"]
    if with_lead_owner:
        related.append("lead__owner")
    queryset = queryset.select_related(*related).filter(pk=_PK_MARK).order_by()[:1]
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    slots = []
    for value in params:
        if value == _USER_MARK:
            slots.append("user")
        elif value == _PK_MARK:
            slots.append("pk")
        else:
            return None  # a constant the cache does not know how to bind: take the ORM way
    from django.db.models.query import get_related_populators

    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    compiled = _CompiledAction(
        sql=sql,
        slots=tuple(slots),
        compiler=compiler,
        converters=compiler.get_converters([column[0] for column in select]),
        names=[column[0].target.attname for column in select[start:end]],
        span=(start, end),
        populators=get_related_populators(klass_info, select, compiler.using),  # type: ignore[call-arg]
    )
    _compiled_actions[key] = compiled
    return compiled


_MAX_ID = 2**63 - 1  # BigAutoField


def handoff_for_action(*, user: Visitor, pk: int, with_lead_owner: bool = False) -> Handoff | None:
    """A handoff the user may see, to act on: with what the services and the answer read (its
    calendar, team, people and lead; `with_lead_owner`: the lead's owner too, whom a return
    notifies), by primary key. The same query as the ORM's, compiled once per process
    (_CompiledAction) and its row turned into the same instances (a test holds it equal)."""
    from django.db import connections

    visibility = _visibility(user)
    if visibility == "none" or not 0 < int(pk) <= _MAX_ID:
        return None  # an id past the column's range names no handoff (as the ORM's lookup)
    compiled = _compiled_action(visibility, with_lead_owner)
    if compiled is None:
        return next(iter(_action_queryset(user, pk, with_lead_owner)), None)
    compiler = compiled.compiler
    db = compiler.using
    connection = connections[db]
    params = [user.pk if slot == "user" else int(pk) for slot in compiled.slots]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for position, (functions, expression) in compiled.converters.items():
        for function in functions:
            values[position] = function(values[position], expression, connection)
    start, end = compiled.span
    handoff = Handoff.from_db(db, compiled.names, values[start:end])
    for populator in compiled.populators:
        populator.populate(values, handoff)
    return handoff
