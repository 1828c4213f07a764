"""The revenue rollup's dirty marks for handoffs: a database trigger on the insert of a handoff
event (migration pipeline.0008_revenue_dirty_day_trigger).

It does what `pipeline.rollup.mark_dirty` does for the opportunity services, inside the
statement that writes the event: one INSERT ... ON CONFLICT (day, txn) DO NOTHING into
`RevenueDirtyDay`, with the inserting transaction's id on PostgreSQL (`txid_current()`, 0 on
SQLite), the day being the handoff's promotion day in the company's zone. So the refresh's
guarantee holds unchanged (the mark commits with the event; a mark of a transaction still open
is never deleted), the handoff app imports nothing from pipeline, and an accept, a return or a
qualify costs the request no query for it.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection

from handoff.models import Handoff, HandoffEvent
from handoff.states import Status
from pipeline.models import RevenueDirtyDay

# Handoff events that move a figure: a new handoff (promotion, reassignment), a rep change
# (escalation to the manager's queue), and a move into or out of the statuses the metrics and
# the threshold advisor read (an accept, a return, a qualification, a reassignment). Notes,
# pauses and SLA events mark nothing.
HANDOFF_EVENT_KINDS = frozenset({"created", "assigned", "unassigned", "escalated"})
HANDOFF_STATUSES = frozenset(
    {Status.ACCEPTED, Status.QUALIFIED, Status.RETURNED, Status.REASSIGNED}
)
DIRTY_TRIGGER = "pipeline_revenue_dirty_day"  # on the handoff events table
_DIRTY_FUNCTION = "pipeline_revenue_mark_handoff_day"  # PostgreSQL: what the trigger runs


def _literals(values: Iterable[str]) -> str:
    return ", ".join(f"'{v!s}'" for v in sorted(values))  # our own codes: [a-z_]


def dirty_trigger_sql(vendor: str, zone: str) -> list[str]:
    """The statements (re)creating the database trigger that marks a handoff's promotion day
    dirty when an event that moves a figure is inserted (any insert: the services, the sweep's
    bulk SQL, a fixture), in the inserting transaction: what `mark_dirty` does for the
    opportunity services. `zone`: the company's (the promotion day's) zone."""
    zoneinfo.ZoneInfo(zone)  # a real zone name (no quote can reach the SQL below)
    events = HandoffEvent._meta.db_table
    handoffs, dirty = Handoff._meta.db_table, RevenueDirtyDay._meta.db_table
    kinds, statuses = _literals(HANDOFF_EVENT_KINDS), _literals(HANDOFF_STATUSES)
    if vendor == "postgresql":
        moved = "NEW.from_status IS DISTINCT FROM NEW.to_status"
        day, txn = f"(h.created_at AT TIME ZONE '{zone}')::date", "txid_current()"
    else:
        moved = "NEW.from_status IS NOT NEW.to_status"
        # SQLite stores UTC text; another zone needs Django's function (its connections only).
        utc = zone == "UTC"
        day = (
            "date(h.created_at)"
            if utc
            else f"django_datetime_cast_date(h.created_at, '{zone}', 'UTC')"
        )
        txn = "0"
    when = (
        f"NEW.kind IN ({kinds}) OR ({moved} AND "
        f"(NEW.to_status IN ({statuses}) OR NEW.from_status IN ({statuses})))"
    )
    insert = (
        f"INSERT INTO {dirty} (day, txn) SELECT {day}, {txn} FROM {handoffs} h "
        "WHERE h.id = NEW.handoff_id ON CONFLICT (day, txn) DO NOTHING;"
    )
    if vendor == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {_DIRTY_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {insert} RETURN NULL; END $$",
            f"DROP TRIGGER IF EXISTS {DIRTY_TRIGGER} ON {events}",
            f"CREATE TRIGGER {DIRTY_TRIGGER} AFTER INSERT ON {events} FOR EACH ROW "
            f"WHEN ({when}) EXECUTE FUNCTION {_DIRTY_FUNCTION}()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {DIRTY_TRIGGER}",
        f"CREATE TRIGGER {DIRTY_TRIGGER} AFTER INSERT ON {events} FOR EACH ROW "
        f"WHEN {when} BEGIN {insert} END",
    ]


def drop_dirty_trigger_sql(vendor: str) -> list[str]:
    events = HandoffEvent._meta.db_table
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {DIRTY_TRIGGER} ON {events}",
            f"DROP FUNCTION IF EXISTS {_DIRTY_FUNCTION}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {DIRTY_TRIGGER}"]


def install_dirty_trigger(using: Any = None, *, zone_only: bool = False) -> None:
    """(Re)create the trigger for the company's zone now: the migration, and `rebuild` (after
    changing TIME_ZONE the rebuild recounts in the new zone and the marks follow it). With
    `zone_only`, on PostgreSQL only the function is replaced (CREATE OR REPLACE FUNCTION: no
    lock on the events table, whose inserts go on while a rebuild runs)."""
    conn = using or connection
    statements = dirty_trigger_sql(conn.vendor, settings.TIME_ZONE)
    if zone_only and conn.vendor == "postgresql":
        statements = statements[:1]
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
