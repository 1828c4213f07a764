"""The outbox's words as SQL expressions, so PostgreSQL writes the sweep's messages itself.

The sources stay in Python and are compiled, not copied: `template_sql` turns a
handoff.notifications template (a str.format string) into a concatenation, `late_words_sql`
is handoff.clocks.late_words in float8 arithmetic (the same IEEE operations in the same order,
`round` being round-half-even in both), `when_sql` is notifications.when_in. What SQL cannot
know comes from Python once per step, as small arrays: each recipient's zone as spans of
constant UTC offset and abbreviation (`zone_spans`, Python's zoneinfo), and each business
calendar's working intervals with running totals (`business_intervals`, handoff.sla's).
tests/handoff/test_sweep_sql.py holds each expression equal to its Python source.
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from collections.abc import Mapping
from typing import Any

from handoff import sla
from handoff.timezones import zone

# --- templates ----------------------------------------------------------------------------


def template_sql(template: str, fields: Mapping[str, str], params: dict[str, Any], key: str) -> str:
    """A str.format template as `concat(...)`: literals as parameters (named `key`_n in
    `params`), each {field} as its SQL expression. Format specs and conversions are refused
    (ValueError): the caller then renders in Python."""
    parts: list[str] = []
    for n, (literal, name, spec, conversion) in enumerate(string.Formatter().parse(template)):
        if literal:
            params[f"{key}_{n}"] = literal
            parts.append(f"%({key}_{n})s::text")
        if name is None:
            continue
        if spec or conversion or name not in fields:
            raise ValueError(f"cannot render {{{name}}} in SQL")
        parts.append(f"({fields[name]})::text")
    return f"concat({', '.join(parts)})" if parts else "''"


def nonblank(expr: str) -> str:
    """NULL when `expr` is empty (SQL twin of Python's `x or ...`), after str.strip()'s ASCII
    whitespace."""
    return f"nullif(btrim({expr}, E' \\t\\n\\r\\x0b\\x0c'), '')"


def json_truthy(obj: str, key: str, default: bool) -> str:
    """Python's `bool(policy.get(key, default))` of a jsonb object (not an object: default)."""
    value = f"({obj} -> '{key}')"
    missing = f"jsonb_typeof({obj}) IS DISTINCT FROM 'object' OR {value} IS NULL"
    return (
        f"(CASE WHEN {missing} THEN {'true' if default else 'false'} "
        f"ELSE CASE jsonb_typeof({value}) WHEN 'boolean' THEN {value}::boolean "
        f"WHEN 'number' THEN {value}::numeric <> 0 "
        f"WHEN 'string' THEN ({value} #>> '{{}}') <> '' "
        f"WHEN 'array' THEN jsonb_array_length({value}) > 0 "
        f"WHEN 'object' THEN {value} <> '{{}}'::jsonb ELSE false END END)"
    )


# --- times in a zone ------------------------------------------------------------------------

# Spans cover the sweep's now +- this; a time outside (a deadline years away) is rendered in
# Python instead.
SPAN_REACH = dt.timedelta(days=400)
_SAMPLE = dt.timedelta(hours=12)  # offset changes are days apart in tzdata (see handoff.sla)


def when_sql(moment: str, offset: str, abbrev: str) -> str:
    """notifications.when_in: "Tue 04 Mar 15:00 UTC", "-" for no time; `offset` (seconds) and
    `abbrev` are those of the zone's span holding the moment."""
    local = f"({moment} AT TIME ZONE 'UTC') + {offset} * interval '1 second'"
    return (
        f"CASE WHEN {moment} IS NULL THEN '-' "
        f"ELSE to_char({local}, 'Dy DD Mon HH24:MI') || ' ' || {abbrev} END"
    )


def _mark(moment: dt.datetime, tz: dt.tzinfo) -> tuple[int, str]:
    local = moment.astimezone(tz)
    offset = local.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return seconds, local.strftime("%Z")


@functools.lru_cache(maxsize=256)
def zone_spans(name: str, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime, int, str], ...]:
    """(from, to, offset seconds, abbreviation) of the zone `name` (as ZoneBook resolves it)
    over `day` +- SPAN_REACH, each span of constant offset and abbreviation, its ends found to
    the second."""
    tz = zone(name)
    middle = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    lo, hi = middle - SPAN_REACH, middle + SPAN_REACH
    spans = []
    start, mark = lo, _mark(lo, tz)
    probe = lo
    while probe < hi:
        nxt = min(probe + _SAMPLE, hi)
        while _mark(nxt, tz) != mark:
            a, b = probe, nxt  # the mark at a is `mark`, at b it differs
            while b - a > dt.timedelta(seconds=1):
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if mid <= a:
                    break
                if _mark(mid, tz) == mark:
                    a = mid
                else:
                    b = mid
            spans.append((start, b, *mark))
            start, mark, probe = b, _mark(b, tz), b
        probe = nxt
    spans.append((start, hi, *mark))
    return tuple(spans)


# --- business time and the late words -----------------------------------------------------


def business_intervals(
    calendar: sla.Calendar, lo: dt.datetime, hi: dt.datetime
) -> tuple[int, list[int], list[int], list[int]]:
    """The calendar's working intervals from the start of `lo`'s block to the end of `hi`'s
    (us since the epoch): (that first moment, starts, ends, business us before each). B(t), the
    business time from the first moment to t, is before + min(t, end) - start of the last
    interval starting at or before t (0 if none), and business_minutes_between(a, b) is
    (B(b) - B(a)) / 60e6, as handoff.sla counts it."""
    first = sla._to_us(lo, what="lo") // sla.BLOCK_US
    last = sla._to_us(hi, what="hi") // sla.BLOCK_US
    starts: list[int] = []
    ends: list[int] = []
    before: list[int] = []
    total = 0
    for index in range(first, last + 1):
        block = sla._block(calendar, index)
        for start, end in zip(block.starts, block.ends, strict=True):
            starts.append(start)
            ends.append(end)
            before.append(total)
            total += end - start
    return first * sla.BLOCK_US, starts, ends, before


def _plural(value: str, unit: str) -> str:
    n = f"greatest(1, floor({value} + 0.5::float8))::bigint"
    return f"({n}::text || CASE WHEN {n} = 1 THEN ' {unit}' ELSE ' {unit}s' END)"


def wall_span_sql(seconds: str) -> str:
    """clocks.wall_span: "45 minutes", "16 hours", "5 days", "7 weeks"."""
    minutes = f"(abs({seconds}) / 60::float8)"
    hours = f"({minutes} / 60::float8)"
    days = f"({hours} / 24::float8)"
    return (
        f"CASE WHEN {days} >= 14 THEN {_plural(f'({days} / 7::float8)', 'week')} "
        f"WHEN {hours} >= 72 THEN {_plural(days, 'day')} "
        f"WHEN {minutes} >= 90 THEN {_plural(hours, 'hour')} "
        f"ELSE {_plural(minutes, 'minute')} END"
    )


def _hours_minutes(minutes: str) -> str:
    whole = f"round(abs({minutes}))::bigint"  # float8 round: to even on a tie, like Python's
    hours, mins = f"({whole} / 60)", f"mod({whole}, 60)"
    return (
        f"CASE WHEN {hours} <> 0 AND {mins} <> 0 "
        f"THEN {hours}::text || 'h ' || lpad({mins}::text, 2, '0') || 'm' "
        f"WHEN {hours} <> 0 THEN {hours}::text || 'h 00m' ELSE {mins}::text || 'm' END"
    )


def business_span_sql(minutes: str, day: str) -> str:
    """clocks.business_span: "12m", "3h 20m", "1 business day 6h", "33 business days"."""
    m = f"abs({minutes})"
    days = f"floor({m} / {day})::bigint"
    rest = f"({m} - {days}::float8 * {day})"
    unit = f"CASE WHEN {days} = 1 THEN ' business day' ELSE ' business days' END"
    return (
        f"CASE WHEN {day} <= 0 OR {m} < {day} THEN {_hours_minutes(m)} "
        f"WHEN {days} < 3 AND {rest} >= 60 "
        f"THEN {days}::text || {unit} || ' ' || floor({rest} / 60::float8)::bigint::text || 'h' "
        f"ELSE {days}::text || {unit} END"
    )


def late_words_sql(minutes: str, seconds: str, day: str) -> str:
    """clocks.late_words(...).text: "overdue", "late by 12m", "late by 33 business days (7
    weeks)"; every argument a float8 expression."""
    m = f"abs({minutes})"
    wall = f"' (' || {wall_span_sql(seconds)} || ')'"
    in_days = f"({day} > 0 AND {m} >= {day})"
    return (
        f"CASE WHEN {m} < 1 THEN 'overdue' || CASE WHEN {seconds} <> 0 AND abs({seconds}) >= 3600"
        f" THEN {wall} ELSE '' END "
        f"ELSE 'late by ' || {business_span_sql(m, day)} || CASE WHEN {in_days}"
        f" OR abs(abs({seconds}) - {m} * 60) >= 3600 THEN {wall} ELSE '' END END"
    )
