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

from core.bulksql import insert_select_sql
from handoff import notifications
from handoff.models import BusinessCalendar, Handoff, HandoffEvent, Notification, Team
from handoff.states import Status
from handoff.sweep import render
from handoff.sweep.ladder import Step
from handoff.sweep.rows import DETAIL_FIELDS
from leads.models import Lead

_T = Handoff._meta.db_table

# A row of flag_sql: the ladder's details of one flagged handoff, then its event id.
DetailRow = namedtuple("DetailRow", [*DETAIL_FIELDS, "event_id"])  # type: ignore[misc]


_DETAILS = (
    "id",
    "attempt",
    "due_at",
    "at_risk_at",
    "first_touch_due_at",
    "first_touch_at_risk_at",
    "policy_snapshot",
    "score_snapshot",
    "context_note",
    "assigned_to_id",
    "l_first",
    "l_last",
    "l_email",
    "l_company",
    "l_domain",
    "u_email",
    "u_username",
    "u_first",
    "u_last",
    "u_active",
    "manager_id",
    "m_email",
    "m_username",
    "m_first",
    "m_last",
    "m_active",
    "c_zone",
    "calendar_id",
    "t_calendar_id",
    "event_id",
)  # fmt: skip  (the order of DetailRow)


def _event_insert(step: Step, params: dict[str, Any]) -> str:
    payload = (
        "jsonb_build_object('flagged_at', %(flagged_at)s::text, "
        f"'deadline', f.{step.event_at}, 'rep_id', f.assigned_to_id, 'attempt', f.attempt, "
        + (
            f"'late_by_seconds', round(extract(epoch FROM %(now)s - f.{step.event_at})::numeric, 3))"
            if step.breach
            else f"'due_at', f.{step.due_field})"
        )
    )
    exprs = {
        "handoff_id": "f.id",
        "kind": "%(kind)s",
        "at": f"f.{step.event_at}",
        "reason": "'sla_sweep'",
        "payload": payload,
    }
    return insert_select_sql(
        HandoffEvent, exprs, source="f", params=params, returning=("id", "handoff_id")
    )


def flag_sql(step: Step, *, outbox: bool = True) -> tuple[str, dict[str, Any]]:
    """One statement per batch on PostgreSQL: claim (SKIP LOCKED), flag, write the events and,
    with `outbox`, the messages of every row the statement can decide and render itself (the
    `fast` ones: no on-breach action, each recipient's zone and the late note's calendar given
    as parameters, see runner._Sweep.prepare). Returns each flagged row, in deadline order: its
    id, whether it was fast, and for the others the ladder's details (DetailRow).

    The set-based twin of the portable path (runner._Sweep.flag_portable and ladder.Ladder:
    same rows, same events, same messages); the tests hold them equal.
    """
    user = get_user_model()._meta.db_table
    status = f"status = '{Status(step.status).value}'"
    params: dict[str, Any] = {}
    returned = (
        "id", "attempt", "due_at", "at_risk_at", "first_touch_due_at", "first_touch_at_risk_at",
        "policy_snapshot", "score_snapshot", "context_note", "assigned_to_id", "lead_id",
        "team_id", "calendar_id",
    )  # fmt: skip
    late = late_ok = "false"
    late_joins = ""
    note_cols = ""
    # The late note ("It is late by 3 business days now."): its calendar position is looked up
    # only for the rows told one by one (`note_join` in the outbox's source), not for every
    # flagged row: a grouped alert does not say it.
    note_join = ""
    note = "''"  # the message's late note, with its blank line
    if outbox and step.breach:
        late_joins = (
            f" CROSS JOIN LATERAL (SELECT (extract(epoch FROM f.{step.event_at}) * 1000000)::int8"
            f" AS t_us, %(now)s - f.{step.event_at} >= %(late_after)s AS late) x"
            " LEFT JOIN cal ON cal.id = coalesce(f.calendar_id, t.calendar_id, 0)"
        )
        late = "x.late"
        late_ok = "(cal.id IS NOT NULL AND x.t_us >= cal.lo)"
        note_cols = (
            f", x.t_us AS n_t_us, cal.id AS n_cal, cal.now_pos AS n_now, cal.day AS n_day,"
            f" ({late} AND {late_ok}) AS n_late"
        )
        note_join = (
            " LEFT JOIN LATERAL (SELECT iv.c + least(d.n_t_us, iv.e) - iv.s AS pos FROM iv"
            " WHERE d.n_late AND iv.cal = d.n_cal AND iv.s <= d.n_t_us ORDER BY iv.s DESC"
            " LIMIT 1) p ON true"
        )
        minutes = "((d.n_now - coalesce(p.pos, 0))::float8 / 60000000::float8)"
        seconds = f"extract(epoch FROM %(now)s - d.{step.event_at})::float8"
        note = (
            "CASE WHEN d.n_late THEN "
            f"'It is ' || {render.late_words_sql(minutes, seconds, 'd.n_day')} || ' now.'"
            " || chr(10) || chr(10) ELSE '' END"
        )
    if step.name == "breach":
        fast0 = f"NOT {render.json_truthy('f.policy_snapshot', 'reassign_on_breach', False)}"
    else:
        fast0 = "true"
    fast0 += f" AND (NOT {late} OR {late_ok})"
    ctes = [
        f"claimed AS MATERIALIZED (SELECT id FROM {_T} WHERE {status}"
        f" AND {step.unflagged_sql} AND {step.deadline} <= %(now)s"
        f" ORDER BY {step.deadline}, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)",
        # The claimed ids as an array: the update then probes the primary key for each. As a
        # join (`FROM claimed`) PostgreSQL hashed the whole table to find 2,000 rows, once per
        # batch (at 100,000 open handoffs, a fifth of the batch's time).
        f"f AS (UPDATE {_T} SET {step.set_sql}, updated_at = %(now)s"
        f" WHERE {_T}.id = ANY (ARRAY(SELECT id FROM claimed)) AND {status}"
        f" AND {step.unflagged_sql} RETURNING {', '.join(f'{_T}.{c}' for c in returned)})",
        f"e AS ({_event_insert(step, params)})",
    ]
    if outbox and step.breach:
        ctes += [
            "cal AS (SELECT * FROM unnest(%(cal_id)s::int8[], %(cal_lo)s::int8[],"
            " %(cal_now)s::int8[], %(cal_day)s::float8[]) AS cal(id, lo, now_pos, day))",
            "iv AS (SELECT * FROM unnest(%(iv_cal)s::int8[], %(iv_s)s::int8[], %(iv_e)s::int8[],"
            " %(iv_c)s::int8[]) AS iv(cal, s, e, c))",
        ]
    # d: what every flagged row needs to be decided (fast or not) and told to its recipients.
    # The lead, and for a breach the rep, are looked up only where a message is rendered (and
    # for the rows left to Python, in the final select): a grouped alert lists at most
    # %(group_cap)s of its rows, so the others need none of it.
    rep_in_d = not step.breach  # a reminder's recipient is the rep: d says who it is
    rep_cols = ", u.u_email, u.u_username, u.u_first, u.u_last, u.u_active" if rep_in_d else ""
    ctes.append(
        "d AS MATERIALIZED (SELECT f.id, f.attempt, f.due_at, f.at_risk_at,"
        " f.first_touch_due_at, f.first_touch_at_risk_at, f.policy_snapshot, f.score_snapshot,"
        f" f.context_note, f.assigned_to_id, f.lead_id{rep_cols}, t.manager_id, t.m_email,"
        " t.m_username, t.m_first, t.m_last, t.m_active, f.calendar_id,"
        f" t.calendar_id AS t_calendar_id, e.id AS event_id{note_cols}, {fast0} AS fast0"
        " FROM f JOIN e ON e.handoff_id = f.id"
        + (_rep_lookup("u", "f") if rep_in_d else "")
        # Each team of the batch and its manager, once (OFFSET 0: not flattened into a
        # manager lookup per row), then hashed onto the rows.
        + " LEFT JOIN (SELECT t.id, t.manager_id, t.calendar_id, m.email AS m_email,"
        " m.username AS m_username, m.first_name AS m_first, m.last_name AS m_last,"
        f" m.is_active AS m_active FROM {Team._meta.db_table} t LEFT JOIN {user} m"
        " ON m.id = t.manager_id WHERE t.id IN (SELECT team_id FROM f) OFFSET 0) t"
        f" ON t.id = f.team_id{late_joins})"
    )
    if outbox:
        ctes += _outbox_ctes(step, params, note=note, note_join=note_join, rep_in_d=rep_in_d)
        # A hash anti-join, once: as a correlated NOT EXISTS in the select list PostgreSQL
        # would run it once per row and column below.
        ctes.append(
            "r AS MATERIALIZED (SELECT d.*, d.fast0 AND b.hid IS NULL AS fast FROM d"
            " LEFT JOIN b ON b.hid = d.id)"
        )
        count = "(SELECT count(*) FROM n)"
        if step.name == "breach":
            count = "(SELECT count(*) FROM n) + (SELECT count(*) FROM g)"
    else:
        ctes.append("r AS MATERIALIZED (SELECT d.*, false AS fast FROM d)")
        count = "0"
    # The ladder's details, only of the rows left to it: their lead, rep and calendar looked up
    # here, one primary-key probe each, none for the rows the statement told.
    source = {"l_": "xl", "c_zone": "xc"}
    if not rep_in_d:
        source["u_"] = "xu"
    details = ", ".join(
        "CASE WHEN r.fast THEN NULL ELSE "
        + next((a for prefix, a in source.items() if c.startswith(prefix)), "r")
        + f".{c} END"
        for c in _DETAILS
    )
    slow = "NOT r.fast"
    lookups = _lead_lookup("xl", "r", slow) + ("" if rep_in_d else _rep_lookup("xu", "r", slow))
    lookups += (
        f" LEFT JOIN LATERAL (SELECT timezone AS c_zone FROM {BusinessCalendar._meta.db_table}"
        f" WHERE id = r.calendar_id AND {slow} OFFSET 0) xc ON true"
    )
    sql = (
        f"WITH {', '.join(ctes)} SELECT r.id, r.fast, {count}, {details}"
        f" FROM r{lookups} ORDER BY r.{step.deadline}, r.id"
    )
    return sql, params


def _lead_lookup(alias: str, row: str, when: str = "true") -> str:
    """The lead of `row` (l_first ... l_domain), one primary-key probe per row that passes
    `when` (OFFSET 0 keeps it a nested loop: as a plain join a large estimate hashed the whole
    table)."""
    return (
        " LEFT JOIN LATERAL (SELECT first_name AS l_first, last_name AS l_last,"
        " email AS l_email, company AS l_company, domain AS l_domain"
        f" FROM {Lead._meta.db_table} WHERE id = {row}.lead_id AND {when} OFFSET 0) {alias}"
        " ON true"
    )


def _rep_lookup(alias: str, row: str, when: str = "true") -> str:
    """The rep of `row` (u_email ... u_active), as _lead_lookup."""
    return (
        " LEFT JOIN LATERAL (SELECT email AS u_email, username AS u_username,"
        " first_name AS u_first, last_name AS u_last, is_active AS u_active"
        f" FROM {get_user_model()._meta.db_table} WHERE id = {row}.assigned_to_id AND {when}"
        f" OFFSET 0) {alias} ON true"
    )


def _outbox_ctes(
    step: Step, params: dict[str, Any], *, note: str, note_join: str, rep_in_d: bool
) -> list[str]:
    """Each row's recipients, their zones and the spans holding each time shown (rr), the
    messages (n) and, for a breach, the grouped alerts (g): the sweep's Ladder._messages in SQL,
    for the rows it may decide (d.fast0). Rows a message lists are looked up (lead, rep) only
    there: an alert lists at most %(group_cap)s of its rows."""
    user = get_user_model()._meta.db_table
    policy = "d.policy_snapshot"
    if step.breach:
        to_rep = "false"
        to_managers = render.json_truthy(policy, "notify_manager_on_breach", True)
    else:
        # A reminder goes to the rep who holds it, else (nobody active holds it) the managers.
        to_rep = "(d.assigned_to_id IS NOT NULL AND d.u_active)"
        to_managers = "true"
    # The rendered rows' lead (dl) and rep (du: d itself when it holds the rep).
    du = "d" if rep_in_d else "du"
    rendered = _lead_lookup("dl", "d") + ("" if rep_in_d else _rep_lookup("du", "d"))
    manager_ok = "(d.manager_id IS NOT NULL AND d.m_active AND d.m_email <> '')"
    subject, body = notifications.TEMPLATES[step.event_kind]
    both = subject + body
    spans = [("s1", "d.due_at")]
    if "{first_touch_due}" in both:
        spans.append(("s2", "d.first_touch_due_at"))
    # A zone's spans do not overlap, so a plain join finds at most one: hashed on the zone once
    # per statement, where a LATERAL lookup re-read the spans for every row.
    lookups = "".join(
        f" LEFT JOIN sp {alias} ON {alias}.zone = zu.zone"
        f" AND {alias}.lo <= {moment} AND {moment} < {alias}.hi"
        for alias, moment in spans
    )
    unrendered = " OR ".join(
        ["zu.zone IS NULL"]
        + [f"({moment} IS NOT NULL AND {alias}.off IS NULL)" for alias, moment in spans]
    )
    fields = {
        "greeting": "'Hello ' || coalesce(nullif(rr.first, ''), rr.username) || ','",
        "lead": "coalesce(" + render.nonblank("dl.l_first || ' ' || dl.l_last") + ", dl.l_email)",
        "company": "coalesce(nullif(coalesce(nullif(dl.l_company, ''), dl.l_domain), ''),"
        " 'company unknown')",
        "score": "d.score_snapshot",
        "due": render.when_sql("d.due_at", "rr.s1_off", "rr.s1_abbrev"),
        "first_touch_due": render.when_sql("d.first_touch_due_at", "rr.s2_off", "rr.s2_abbrev"),
        "rep": "coalesce(CASE WHEN d.assigned_to_id IS NOT NULL THEN coalesce("
        + render.nonblank(f"coalesce({du}.u_first, '') || ' ' || coalesce({du}.u_last, '')")
        + f", nullif({du}.u_username, '')) END, 'nobody')",
        "attempt": "d.attempt",
        "context": "CASE WHEN coalesce(d.context_note, '') <> '' THEN 'Marketing''s note: '"
        " || d.context_note || chr(10) || chr(10) ELSE '' END",
        # The late note and its blank line, or nothing.
        "message": note,
        "link": "CASE WHEN %(link)s::text <> '' THEN 'Open it: ' || replace(%(link)s::text,"
        " %(link_id)s::text, d.id::text) || chr(10) ELSE '' END",
    }
    span_cols = "".join(
        f", {alias}.off AS {alias}_off, {alias}.abbrev AS {alias}_abbrev" for alias, _ in spans
    )
    if len(spans) == 1:
        span_cols += ", NULL::int AS s2_off, NULL::text AS s2_abbrev"
    message = {
        "kind": "%(kind)s",
        "handoff_id": "d.id",
        "event_id": "d.event_id",
        "recipient_id": "rr.pid",
        "to_email": "rr.email",
        "subject": f"left({render.template_sql(subject, fields, params, 'subject')}, 200)",
        "body": render.template_sql(body, fields, params, "body"),
        "created_at": "%(now)s",
        "next_attempt_at": "%(now)s",
    }
    source = (
        f"rr JOIN d ON d.id = rr.hid{rendered}{note_join}"
        " WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.hid = rr.hid)"
    )
    grouping: list[str] = []
    if step.name == "breach":
        # Storm suppression (ladder.Ladder._breach_alerts): a manager told of more than
        # %(group_above)s of the batch's breaches gets one grouped alert instead. q: the rows
        # rendered here, with how many each recipient gets (cnt) and their place in its list.
        grouping.append(
            "q AS MATERIALIZED (SELECT rr.*, count(*) OVER (PARTITION BY rr.pid) AS cnt,"
            " row_number() OVER (PARTITION BY rr.pid ORDER BY rr.deadline, rr.hid) AS rn"
            " FROM rr WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.hid = rr.hid))"
        )
        source = (
            f"q rr JOIN d ON d.id = rr.hid{rendered}{note_join} WHERE rr.cnt <= %(group_above)s"
        )
        item_fields = {
            **fields,
            "link": "CASE WHEN %(link)s::text <> '' THEN ': ' || replace(%(link)s::text,"
            " %(link_id)s::text, d.id::text) ELSE '' END",
        }
        item = render.template_sql(notifications.BREACHES_ITEM, item_fields, params, "item")
        group_subject, group_body = notifications.BREACHES_TEMPLATES
        group_fields = {
            "greeting": fields["greeting"],
            "count": "rr.cnt",
            "items": "rr.items",
            "more": "CASE WHEN rr.cnt > %(group_cap)s THEN '... and ' || (rr.cnt - %(group_cap)s)"
            "::text || ' more.' || chr(10) ELSE '' END",
            "list": "CASE WHEN %(list_link)s::text <> '' THEN 'All breached handoffs: '"
            " || %(list_link)s::text || chr(10) ELSE '' END",
        }
        alert = {
            "kind": "%(group_kind)s",
            "recipient_id": "rr.pid",
            "to_email": "rr.email",
            "subject": f"left({render.template_sql(group_subject, group_fields, params, 'gs')},"
            " 200)",
            "body": render.template_sql(group_body, group_fields, params, "gb"),
            "created_at": "%(now)s",
            "next_attempt_at": "%(now)s",
        }
        # Only the listed rows (the first %(group_cap)s of each alert) are joined, looked up
        # and sorted: every grouped recipient has a first row, so each still gets its alert.
        alerts = (
            "(SELECT rr.pid, rr.email, rr.username, rr.first, rr.cnt,"
            f" string_agg({item}, '' ORDER BY rr.rn) AS items FROM q rr JOIN d ON d.id = rr.hid"
            f"{rendered} WHERE rr.cnt > %(group_above)s AND rr.rn <= %(group_cap)s"
            " GROUP BY rr.pid, rr.email, rr.username, rr.first, rr.cnt) rr"
        )
        grouping.append(
            f"g AS ({insert_select_sql(Notification, alert, source=alerts, params=params)}"
            " RETURNING 1)"
        )
    return [
        "zu AS (SELECT * FROM unnest(%(zu_id)s::int8[], %(zu_zone)s::text[]) AS zu(id, zone))",
        "sp AS (SELECT * FROM unnest(%(sp_zone)s::text[], %(sp_lo)s::timestamptz[],"
        " %(sp_hi)s::timestamptz[], %(sp_off)s::int[], %(sp_abbrev)s::text[])"
        " AS sp(zone, lo, hi, off, abbrev))",
        f"fb AS (SELECT u.id, u.email, u.username, u.first_name FROM {user} u"
        " WHERE u.is_active AND u.email <> '' AND EXISTS (SELECT 1 FROM auth_user_groups ug"
        " JOIN auth_group g ON g.id = ug.group_id WHERE ug.user_id = u.id"
        " AND g.name = %(manager_group)s))",
        # Each row's recipients, their zones and the spans of the times shown, straight from d.
        "rr AS (SELECT d.id AS hid, p.pid, p.email, p.username, p.first,"
        f" ({unrendered}) AS unrendered, d.{step.deadline} AS deadline{span_cols} FROM d"
        " CROSS JOIN LATERAL ("
        + (
            "SELECT d.assigned_to_id AS pid, d.u_email AS email, d.u_username AS username,"
            f" d.u_first AS first WHERE {to_rep} AND d.u_email <> '' UNION ALL "
            if rep_in_d
            else ""
        )
        + "SELECT d.manager_id AS pid, d.m_email AS email, d.m_username AS username,"
        " d.m_first AS first"
        f" WHERE NOT {to_rep} AND {to_managers} AND {manager_ok}"
        " UNION ALL SELECT fb.id, fb.email, fb.username, fb.first_name FROM fb"
        f" WHERE NOT {to_rep} AND {to_managers} AND NOT {manager_ok}) p"
        f" LEFT JOIN zu ON zu.id = p.pid{lookups}"
        " WHERE d.fast0)",
        # The handoffs with a message SQL cannot render, once: DISTINCT keeps the planner's
        # estimate small (a few hundred) whatever it guesses for rr, so the anti-join's hash
        # stays in memory; over rr itself a large batch's estimate made it spill to disk.
        "b AS MATERIALIZED (SELECT DISTINCT hid FROM rr WHERE unrendered)",
        *grouping,
        f"n AS ({insert_select_sql(Notification, message, source=source, params=params)}"
        " RETURNING 1)",
    ]


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


def recipients_sql(step: Step) -> str:
    """Who the due rows of a step may tell and on which calendars: (rep, team manager, calendar
    id or NULL, earliest deadline) groups, for the parameters of flag_sql (one per step)."""
    status = f"status = '{Status(step.status).value}'"
    return (
        f"SELECT h.assigned_to_id, t.manager_id, coalesce(h.calendar_id, t.calendar_id),"
        f" min(h.deadline) FROM (SELECT assigned_to_id, team_id, calendar_id,"
        f" {step.deadline} AS deadline FROM {_T} WHERE {status} AND {step.unflagged_sql}"
        f" AND {step.deadline} <= %(now)s) h"
        f" LEFT JOIN {Team._meta.db_table} t ON t.id = h.team_id GROUP BY 1, 2, 3"
    )
