"""Who sees which handoff, and the querysets of the lists and the detail with their joins: the
API list's columns (as rows or as values), the search, the manager's queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections, router
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.db.models.query import get_related_populators

from core.roles import is_manager, is_marketer, is_rep
from core.types import Visitor
from handoff.models import Handoff, HandoffEvent
from handoff.states import OPEN_STATUSES, Status
from leads.models import Lead

if TYPE_CHECKING:
    pass

#: Who reads: a signed-in person, or a request's anonymous user (who sees no handoff).


def handoffs_visible_to(user: Visitor) -> QuerySet[Handoff]:
    """Handoffs a user may see. Managers: all. Marketers: all, read-only (they act only on the
    handoffs they promoted, to answer a rep's question). Reps: only those assigned to them.
    Anyone else: none. Acting on a handoff is further checked by each service."""
    qs = Handoff.objects.all()
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if is_manager(user) or is_marketer(user):
        return qs
    if is_rep(user):
        return qs.filter(assigned_to_id=user.pk)
    return qs.none()


def handoffs_matching(handoffs: QuerySet[Handoff], *, words: list[str]) -> QuerySet[Handoff]:
    """The handoffs whose lead's `search_text` holds every word (trigram-indexed on
    PostgreSQL); a search of one number also finds the handoff with that number.

    Written as `lead_id IN (the leads matching every word)`, so that PostgreSQL finds the leads
    in the index first; an OR per word across the join (the admin's default, with
    `UPPER(id::text)` for `=id`) joined every handoff to its lead before filtering: 1.1 s for a
    two-word search at 100,000 handoffs. The number is a UNION rather than an OR, which would
    scan every handoff."""
    if not words:
        return handoffs
    leads = Lead.objects.all()
    for word in words:
        leads = leads.filter(search_text__icontains=word)
    number = words[0].removeprefix("#")
    if len(words) == 1 and number.isdigit() and len(number) < 19:
        by_lead = Handoff.objects.filter(lead_id__in=leads.values("pk")).order_by().values("pk")
        by_number = Handoff.objects.filter(pk=int(number)).order_by().values("pk")
        return handoffs.filter(pk__in=by_lead.union(by_number))
    return handoffs.filter(lead_id__in=leads.values("pk"))


def handoff_list(*, user: Visitor) -> QuerySet[Handoff]:
    """The list queryset: every related row a list row shows, joined, so the number of queries
    does not grow with the page size."""
    return handoffs_visible_to(user).select_related(
        "lead", "assigned_to", "promoted_by", "team", "policy", "calendar", "team__calendar"
    )


EVENTS = Prefetch("events", queryset=HandoffEvent.objects.select_related("actor").order_by("id"))
_EVENT_HANDOFF = HandoffEvent._meta.get_field("handoff")


def handoff_detail_queryset(*, user: Visitor) -> QuerySet[Handoff]:
    return handoff_list(user=user).prefetch_related(EVENTS)


def handoff_get_visible(*, user: Visitor, pk: int) -> Handoff | None:
    return handoff_detail_queryset(user=user).filter(pk=pk).first()


# What an API list row shows (handoff.serializers.HandoffListSerializer) and its clock needs:
# the rep's queue is the busiest read, and a page of 50 rows with every column of 7 joined
# tables (snapshot JSON included) cost more to build than to render.
LIST_ROW_FIELDS = (
    "id", "lead_id", "status", "attempt", "assigned_to_id", "promoted_by_id", "team_id",
    "policy_id", "policy_snapshot", "calendar_id", "created_at", "due_at", "at_risk_at",
    "at_risk_flagged_at", "breached_at", "responded_at", "accepted_at", "accepted_late",
    "paused_at", "remaining_business_minutes", "first_touch_due_at", "first_touch_at",
    "first_touch_breached_at", "closed_at", "auto_promotion", "signal_at",
    "lead__email", "lead__first_name", "lead__last_name", "lead__company", "lead__stage",
    "lead__score",
    "assigned_to__username", "assigned_to__first_name", "assigned_to__last_name",
    "promoted_by__username", "promoted_by__first_name", "promoted_by__last_name",
    "team__name", "team__calendar_id",
    "calendar__timezone", "calendar__holiday_country", "calendar__holiday_subdivision",
    "calendar__updated_at",
    "team__calendar__timezone", "team__calendar__holiday_country",
    "team__calendar__holiday_subdivision", "team__calendar__updated_at",
)  # fmt: skip


def handoff_list_rows(*, user: Visitor) -> QuerySet[Handoff]:
    """The API list: the rows a user may see, with only the columns a list row shows."""
    return (
        handoffs_visible_to(user)
        .select_related("lead", "assigned_to", "promoted_by", "team", "calendar", "team__calendar")
        .only(*LIST_ROW_FIELDS)
    )


# A list row as values (handoff.serializers.list_row_of_values): the queue read builds its 50
# rows from tuples, without 7 model instances per row.
LIST_ROW_VALUES = tuple(
    name for name in LIST_ROW_FIELDS if not name.endswith(("holiday_country", "holiday_subdivision", "__timezone"))
)  # fmt: skip


@dataclass(frozen=True)
class _CompiledEvents:
    """The SQL of EVENTS for one handoff, compiled once per process, and how its rows become
    the same instances as the prefetch's (event, actor)."""

    sql: str
    converters: dict[int, Any]
    names: list[str]
    span: tuple[int, int]
    populators: list[Any]


_compiled_events: dict[str, _CompiledEvents | None] = {}
_HANDOFF_MARK = -7_000_003


def _events_compiled(alias: str) -> _CompiledEvents | None:
    if alias in _compiled_events:
        return _compiled_events[alias]
    queryset = EVENTS.queryset.filter(handoff_id=_HANDOFF_MARK)  # type: ignore[union-attr]
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    compiled = None
    if list(params) == [_HANDOFF_MARK]:
        select, klass_info = compiler.select, compiler.klass_info
        assert klass_info is not None
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        compiled = _CompiledEvents(
            sql=sql,
            converters=compiler.get_converters([column[0] for column in select]),
            names=[column[0].target.attname for column in select[start:end]],
            span=(start, end),
            populators=get_related_populators(klass_info, select, alias),  # type: ignore[call-arg]
        )
    _compiled_events[alias] = compiled
    return compiled


def handoff_with_fresh_events(handoff: Handoff) -> Handoff:
    """The handoff with its events (the detail's `events`, in order) read again: one query,
    compiled once per process (an action's answer reads them on every request); the same
    instances as prefetching EVENTS (a test holds them equal)."""
    cache = getattr(handoff, "_prefetched_objects_cache", None)
    if cache:
        cache.pop("events", None)
    alias = router.db_for_read(HandoffEvent)
    compiled = _events_compiled(alias)
    if compiled is None:
        prefetch_related_objects([handoff], EVENTS)
        return handoff
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, [handoff.pk])
        rows = cursor.fetchall()
    start, end = compiled.span
    events = []
    for row in rows:
        values = list(row)
        for position, (functions, expression) in compiled.converters.items():
            for function in functions:
                values[position] = function(values[position], expression, connection)
        event = HandoffEvent.from_db(alias, compiled.names, values[start:end])
        for populator in compiled.populators:
            populator.populate(values, event)
        _EVENT_HANDOFF.set_cached_value(event, handoff)
        events.append(event)
    queryset = handoff.events.all()
    queryset._result_cache = events
    queryset._prefetch_done = True  # type: ignore[attr-defined]
    handoff._prefetched_objects_cache = {**(cache or {}), "events": queryset}  # type: ignore[attr-defined]
    return handoff


def open_handoff_of(lead_id: int) -> Handoff | None:
    return Handoff.objects.filter(lead_id=lead_id, status__in=OPEN_STATUSES).order_by("-id").first()


def manager_queue() -> QuerySet[Handoff]:
    """Pending handoffs nobody could take: they wait for a manager to assign them."""
    return Handoff.objects.filter(status=Status.PENDING, assigned_to__isnull=True).select_related(
        "lead", "team"
    )
