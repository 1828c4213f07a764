"""The sweep's set-based statements: one per batch and step on PostgreSQL, three on SQLite.

`flag_sql` (PostgreSQL) claims the due rows (`FOR UPDATE SKIP LOCKED`, a `MATERIALIZED`
CTE), flags them (`UPDATE ... RETURNING`), writes one event each (`INSERT ... SELECT`) and
returns what the ladder needs of each. `claim_sql` is the portable claim-and-flag (SQLite), and
`probe_sql` the cheap test that a step has anything due at all.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from handoff.models import BusinessCalendar, Handoff, HandoffEvent, Team
from handoff.states import Status
from handoff.sweep.ladder import DETAIL_FIELDS, Step
from leads.models import Lead

_T = Handoff._meta.db_table

# A row of flag_sql: the ladder's details of one flagged handoff, then its event id.
DetailRow = namedtuple("DetailRow", [*DETAIL_FIELDS, "event_id"])  # type: ignore[misc]


def flag_sql(step: Step) -> tuple[str, dict[str, Any]]:
    """One statement per batch on PostgreSQL: claim (SKIP LOCKED), flag, write the events, and
    return each flagged row with its lead, rep, team manager, calendar zone and event id.

    The set-based twin of the portable path in runner._Sweep.flag_portable (same rows, same events,
    same payloads); the tests run both.
    """
    user = get_user_model()._meta.db_table
    lead = Lead._meta.db_table
    team = Team._meta.db_table
    calendar = BusinessCalendar._meta.db_table
    status = f"status = '{Status(step.status).value}'"
    payload = (
        "jsonb_build_object('flagged_at', %(flagged_at)s::text, "
        f"'deadline', f.{step.event_at}, 'rep_id', f.assigned_to_id, 'attempt', f.attempt, "
        + (
            f"'late_by_seconds', round(extract(epoch FROM %(now)s - f.{step.event_at})::numeric, 3))"
            if step.breach
            else f"'due_at', f.{step.due_field})"
        )
    )
    explicit = {
        "handoff_id": "f.id",
        "kind": "%(kind)s",
        "at": f"f.{step.event_at}",
        "reason": "'sla_sweep'",
        "payload": payload,
    }
    params: dict[str, Any] = {}
    columns, exprs = [], []
    for column in HandoffEvent._meta.concrete_fields:
        if column.primary_key:
            continue
        columns.append(connection.ops.quote_name(column.column or column.attname))
        if column.attname in explicit:
            exprs.append(explicit[column.attname])
        elif column.null and not column.has_default():
            exprs.append("NULL")
        else:
            key = f"default_{column.attname}"
            params[key] = column.get_db_prep_save(column.get_default(), connection)
            exprs.append(f"%({key})s")
    returned = (
        "id", "attempt", "due_at", "at_risk_at", "first_touch_due_at", "first_touch_at_risk_at",
        "policy_snapshot", "score_snapshot", "context_note", "assigned_to_id", "lead_id",
        "team_id", "calendar_id",
    )  # fmt: skip
    sql = (
        f"WITH claimed AS MATERIALIZED (SELECT id FROM {_T} WHERE {status}"
        f" AND {step.unflagged_sql} AND {step.deadline} <= %(now)s"
        f" ORDER BY {step.deadline}, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
        f"f AS (UPDATE {_T} SET {step.set_sql}, updated_at = %(now)s FROM claimed"
        f" WHERE {_T}.id = claimed.id AND {status} AND {step.unflagged_sql}"
        f" RETURNING {', '.join(f'{_T}.{c}' for c in returned)}), "
        f"e AS (INSERT INTO {HandoffEvent._meta.db_table} ({', '.join(columns)})"
        f" SELECT {', '.join(exprs)} FROM f RETURNING id, handoff_id) "
        "SELECT f.id, f.attempt, f.due_at, f.at_risk_at, f.first_touch_due_at,"
        " f.first_touch_at_risk_at, f.policy_snapshot, f.score_snapshot, f.context_note,"
        " f.assigned_to_id, l.first_name, l.last_name, l.email, l.company, l.domain,"
        " u.email, u.username, u.first_name, u.last_name, u.is_active,"
        " t.manager_id, m.email, m.username, m.first_name, m.last_name, m.is_active,"
        " c.timezone, f.calendar_id, t.calendar_id, e.id "
        f"FROM f JOIN e ON e.handoff_id = f.id JOIN {lead} l ON l.id = f.lead_id"
        f" LEFT JOIN {user} u ON u.id = f.assigned_to_id"
        f" LEFT JOIN {team} t ON t.id = f.team_id LEFT JOIN {user} m ON m.id = t.manager_id"
        f" LEFT JOIN {calendar} c ON c.id = f.calendar_id"
        f" ORDER BY f.{step.deadline}, f.id"
    )
    return sql, params


def claim_sql(step: Step, *, skip_locked: bool) -> str:
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    # A literal, not a parameter, so the planner can match the partial index's predicate even
    # with a generic (server-side prepared) plan. It is one of our own Status values.
    status = f"status = '{Status(step.status).value}'"
    # The claim is a MATERIALIZED CTE, run once. As `WHERE id IN (SELECT ... LIMIT n FOR
    # UPDATE SKIP LOCKED)` PostgreSQL may re-run the subquery per outer row, each run skipping
    # the rows this very statement just updated and taking the next n: the whole table in one
    # batch. The status and the unflagged test are repeated in the outer WHERE: on SQLite (no
    # row locks) that conditional update is what keeps a concurrent second run from flagging
    # anything twice.
    return (
        f"WITH claimed AS MATERIALIZED (SELECT id FROM {_T} WHERE {status}"
        f" AND {step.unflagged_sql} AND {step.deadline} <= %(now)s"
        f" ORDER BY {step.deadline}, id LIMIT %(limit)s{lock}) "
        f"UPDATE {_T} SET {step.set_sql}, updated_at = %(now)s FROM claimed"
        f" WHERE {_T}.id = claimed.id AND {status} AND {step.unflagged_sql}"
        f" RETURNING {_T}.id"
    )


def probe_sql(step: Step) -> str:
    status = f"status = '{Status(step.status).value}'"
    return (
        f"SELECT 1 FROM {_T} WHERE {status} AND {step.unflagged_sql}"
        f" AND {step.deadline} <= %(now)s LIMIT 1"
    )
