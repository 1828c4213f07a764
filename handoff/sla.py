"""Business-time arithmetic for SLA clocks: pure functions, no Django, `now` always passed in.

Semantics: business time is real elapsed time during which the
calendar's local wall clock is inside a working window of a working local date. A spring-forward
gap therefore shortens a window and a fall-back repeat lengthens it, because the clock really is
(or is not) inside the window for that much real time.

How it stays fast: the timeline is cut into fixed 64-day blocks of UTC time. For each block we
compute once, and cache on the calendar, the sorted UTC intervals (integer microseconds since the
Unix epoch) of business time and their running totals. A deadline is then two binary searches
inside a block, plus a walk over cached block totals when the duration spans blocks. Building a
block finds the UTC offset segments of the zone (hourly samples, bisected to the second at each
change), then maps each local window through each segment, which is what makes DST exact.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "HORIZON_DAYS",
    "MAX_SPAN_DAYS",
    "Calendar",
    "add_business_minutes",
    "build_calendar",
    "business_minutes_between",
    "is_business_time",
    "next_business_moment",
]

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
BLOCK_DAYS = 64
BLOCK_US = BLOCK_DAYS * US_PER_DAY
SAMPLE_US = 12 * US_PER_HOUR
# A calendar with no working time in this many consecutive days is treated as having none at
# all: add_business_minutes raises ValueError instead of searching forever.
HORIZON_DAYS = 3 * 366
# Deadlines further away than this are refused (they would build decades of cache for nothing).
MAX_SPAN_DAYS = 100 * 366
# Cached blocks per calendar before the cache is dropped (512 blocks is about 90 years).
MAX_CACHED_BLOCKS = 512

_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_ONE_US = dt.timedelta(microseconds=1)
# Moments must leave a whole block (plus the offset margin) inside datetime's range.
_MIN_US = (dt.datetime(2, 1, 1, tzinfo=_UTC) - _EPOCH) // _ONE_US
_MAX_US = (dt.datetime(9998, 1, 1, tzinfo=_UTC) - _EPOCH) // _ONE_US

Window = tuple[int, int]  # (start, end) in microseconds since local midnight; end <= 24h


@dataclass(frozen=True, slots=True)
class _Block:
    """Business intervals of one 64-day UTC block, as parallel sorted lists."""

    starts: list[int]
    ends: list[int]
    cum: list[int]  # business microseconds in this block before interval i
    cum_end: list[int]  # business microseconds in this block up to the end of interval i
    total: int


@dataclass(frozen=True)
class Calendar:
    """A working-time calendar. Build it with build_calendar(); treat it as opaque.

    Equal calendars compare and hash equal; the per-block cache is not part of the identity.
    """

    tz: str
    weekly: tuple[tuple[Window, ...], ...]  # 7 entries, Monday first
    holiday_country: str
    holiday_subdivision: str
    closed_dates: frozenset[dt.date]
    extra_dates: tuple[tuple[dt.date, tuple[Window, ...]], ...]
    _zone: ZoneInfo = field(compare=False, repr=False)
    _extra: dict[dt.date, tuple[Window, ...]] = field(compare=False, repr=False)
    _blocks: dict[int, _Block] = field(default_factory=dict, compare=False, repr=False)


# --- building -------------------------------------------------------------------------------


def _time_us(value: dt.time, *, what: str) -> int:
    if not isinstance(value, dt.time):
        raise ValueError(f"{what} must be a datetime.time, got {value!r}")
    if value.tzinfo is not None:
        raise ValueError(f"{what} must be a naive wall-clock time, got {value!r}")
    return (
        value.hour * US_PER_HOUR
        + value.minute * US_PER_MINUTE
        + value.second * US_PER_SECOND
        + value.microsecond
    )


def _window(start: dt.time, end: dt.time, *, what: str) -> Window:
    s = _time_us(start, what=f"{what} start")
    e = _time_us(end, what=f"{what} end")
    if e == 0:
        e = US_PER_DAY  # an end of 00:00 means midnight at the end of the day
    if e <= s:
        raise ValueError(
            f"{what}: end {end.isoformat()} must be after start {start.isoformat()} "
            "(use 00:00 as the end for a window that runs to midnight)"
        )
    return (s, e)


def _merge(windows: Iterable[Window]) -> tuple[Window, ...]:
    """Union of windows, sorted; overlapping or touching windows become one."""
    out: list[list[int]] = []
    for s, e in sorted(windows):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


@lru_cache(maxsize=1024)
def _holidays_for(country: str, subdivision: str, year: int) -> frozenset[dt.date]:
    # Imported lazily: the package is large and only calendars with a country need it.
    import holidays

    # Shared across calendars: many calendars use the same country, and expanding a year of a
    # country's rules is the slowest step of building a block.
    found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return frozenset(found.keys())


def build_calendar(
    *,
    tz: str,
    windows: Iterable[tuple[int, dt.time, dt.time]],
    holiday_country: str = "",
    holiday_subdivision: str = "",
    closed_dates: Iterable[dt.date] = (),
    extra_dates: Mapping[dt.date, Iterable[tuple[dt.time, dt.time]]] | None = None,
) -> Calendar:
    """Build a calendar from weekly local windows, holidays, closed dates and extra dates.

    windows: (weekday 0=Monday..6, start, end) in local wall-clock time; an end of time(0) means
    midnight at the end of that day. Overlapping windows on one day are merged. A date's windows
    come from, in order: closed_dates (no work), extra_dates (replace the weekly windows, so an
    extra date can open a holiday or a weekend), public holidays (no work), the weekly windows.
    Raises ValueError naming the bad argument.
    """
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"tz: unknown time zone {tz!r}") from exc

    per_day: list[list[Window]] = [[] for _ in range(7)]
    for item in windows:
        try:
            weekday, start, end = item
        except (TypeError, ValueError) as exc:
            raise ValueError(f"windows: expected (weekday, start, end), got {item!r}") from exc
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise ValueError(f"windows: weekday must be 0 (Monday) to 6, got {weekday!r}")
        per_day[weekday].append(_window(start, end, what=f"windows[weekday={weekday}]"))
    weekly = tuple(_merge(day) for day in per_day)

    closed = frozenset(closed_dates)
    for d in closed:
        if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
            raise ValueError(f"closed_dates: expected dates, got {d!r}")

    extra: dict[dt.date, tuple[Window, ...]] = {}
    for d, day_windows in (extra_dates or {}).items():
        if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
            raise ValueError(f"extra_dates: expected date keys, got {d!r}")
        if d in closed:
            raise ValueError(f"extra_dates: {d.isoformat()} is also in closed_dates")
        extra[d] = _merge(
            _window(s, e, what=f"extra_dates[{d.isoformat()}]") for s, e in day_windows
        )

    if holiday_subdivision and not holiday_country:
        raise ValueError("holiday_subdivision: needs a holiday_country")
    if holiday_country:
        try:
            _holidays_for(holiday_country, holiday_subdivision, 2000)
        except NotImplementedError as exc:
            field_name = "holiday_subdivision" if holiday_subdivision else "holiday_country"
            raise ValueError(f"{field_name}: {exc}") from exc

    return Calendar(
        tz=tz,
        weekly=weekly,
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
        closed_dates=closed,
        extra_dates=tuple(sorted(extra.items())),
        _zone=zone,
        _extra=extra,
    )


def _day_windows(calendar: Calendar, day: dt.date) -> tuple[Window, ...]:
    if day in calendar.closed_dates:
        return ()
    extra = calendar._extra.get(day)
    if extra is not None:
        return extra
    windows = calendar.weekly[day.weekday()]
    country = calendar.holiday_country
    if (
        windows
        and country
        and day in _holidays_for(country, calendar.holiday_subdivision, day.year)
    ):
        return ()
    return windows


def _offset_us(zone: ZoneInfo, utc_us: int) -> int:
    moment = _EPOCH + dt.timedelta(microseconds=utc_us)
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return offset // _ONE_US


def _offset_segments(zone: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(start, end, offset) segments of constant UTC offset covering UTC [lo, hi)."""
    segments: list[tuple[int, int, int]] = []
    seg_start = lo
    seg_offset = _offset_us(zone, lo)
    # Samples every SAMPLE_US find every change except an offset that changes and changes back
    # between two samples; the closest pair of offset changes anywhere in tzdata is four days
    # apart (Freetown 1939; Cambridge Bay 2000 at 6.9 days since 1970). Each change found is
    # bisected to the exact second (tzdata transitions fall on whole seconds).
    probe = lo
    while probe < hi:
        nxt = min(probe + SAMPLE_US, hi - 1)
        if nxt <= probe:
            break
        nxt_offset = _offset_us(zone, nxt)
        left = probe
        while nxt_offset != seg_offset:
            # Invariant: the offset at `left` is seg_offset and at `nxt` it differs.
            a, b = left // US_PER_SECOND, -(-nxt // US_PER_SECOND)
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_us(zone, mid * US_PER_SECOND) == seg_offset:
                    a = mid
                else:
                    b = mid
            change = max(b * US_PER_SECOND, left + 1)
            segments.append((seg_start, change, seg_offset))
            seg_start = change
            seg_offset = _offset_us(zone, change)
            left = change
        probe = nxt
    segments.append((seg_start, hi, seg_offset))
    return segments


def _build_block(calendar: Calendar, index: int) -> _Block:
    lo = index * BLOCK_US
    hi = lo + BLOCK_US
    segments = _offset_segments(calendar._zone, lo, hi)
    min_off = min(off for _, _, off in segments)
    max_off = max(off for _, _, off in segments)
    first_day = (lo + min_off) // US_PER_DAY
    last_day = (hi + max_off) // US_PER_DAY
    pieces: list[tuple[int, int]] = []
    for day_number in range(first_day, last_day + 1):
        if not 1 <= day_number + _EPOCH_ORDINAL <= dt.date.max.toordinal():
            continue
        windows = _day_windows(calendar, dt.date.fromordinal(day_number + _EPOCH_ORDINAL))
        base = day_number * US_PER_DAY  # local midnight as "local microseconds since epoch"
        for w_start, w_end in windows:
            local_start, local_end = base + w_start, base + w_end
            # The UTC instants whose wall clock falls in [local_start, local_end) are, per
            # segment of constant offset, that interval shifted by the offset and clipped to the
            # segment. A gap drops a piece; a fold yields the same wall times twice.
            for seg_start, seg_end, off in segments:
                s = max(local_start - off, seg_start)
                e = min(local_end - off, seg_end)
                if s < e:
                    pieces.append((s, e))
    pieces.sort()
    starts: list[int] = []
    ends: list[int] = []
    for s, e in pieces:
        if ends and s <= ends[-1]:
            if e > ends[-1]:
                ends[-1] = e
        else:
            starts.append(s)
            ends.append(e)
    cum: list[int] = []
    cum_end: list[int] = []
    total = 0
    for s, e in zip(starts, ends, strict=True):
        cum.append(total)
        total += e - s
        cum_end.append(total)
    return _Block(starts, ends, cum, cum_end, total)


def _block(calendar: Calendar, index: int) -> _Block:
    blocks = calendar._blocks
    block = blocks.get(index)
    if block is None:
        if len(blocks) >= MAX_CACHED_BLOCKS:
            blocks.clear()
        # Two threads may build the same block at once; both results are equal, so the race
        # only costs time.
        block = blocks[index] = _build_block(calendar, index)
    return block


# --- queries --------------------------------------------------------------------------------


def _to_us(moment: dt.datetime, *, what: str) -> int:
    """Microseconds since the Unix epoch of an aware datetime; ValueError naming `what`."""
    try:
        # Subtracting an aware datetime already raises TypeError for naive ones and non-dates;
        # letting it do the checking keeps the hot path to one C call.
        us: int = (moment - _EPOCH) // _ONE_US
    except TypeError:
        if not isinstance(moment, dt.datetime):
            raise ValueError(f"{what} must be a datetime, got {moment!r}") from None
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}") from None
    if not _MIN_US <= us <= _MAX_US:
        raise ValueError(f"{what} is too close to the limits of datetime: {moment.isoformat()}")
    return us


def _position(block: _Block, us: int) -> int:
    """Business microseconds in the block before instant `us` (which lies in the block)."""
    i = bisect_right(block.starts, us) - 1
    if i < 0:
        return 0
    end = block.ends[i]
    return block.cum[i] + (us if us < end else end) - block.starts[i]


def _minutes_to_us(minutes: float) -> int:
    """Microseconds in a duration given in minutes (durations are resolved to the microsecond)."""
    if type(minutes) is int and minutes >= 0:  # the common case, checked first
        return minutes * US_PER_MINUTE
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise ValueError(f"minutes must be a number, got {minutes!r}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    return round(minutes * US_PER_MINUTE)


def add_business_minutes(start: dt.datetime, minutes: float, calendar: Calendar) -> dt.datetime:
    """The earliest instant t >= start with business_minutes_between(start, t) >= minutes.

    Returns an aware UTC datetime (start itself, in UTC, when minutes == 0). Raises ValueError
    for a naive start, negative or non-finite minutes, a calendar with no working time in
    HORIZON_DAYS consecutive days, or a deadline more than MAX_SPAN_DAYS away.
    """
    need = _minutes_to_us(minutes)
    us = _to_us(start, what="start")
    if need == 0:
        return _EPOCH + dt.timedelta(microseconds=us)
    index = us // BLOCK_US
    block = calendar._blocks.get(index) or _block(calendar, index)
    starts = block.starts
    i = bisect_right(starts, us) - 1
    if i >= 0:
        end = block.ends[i]
        target = block.cum[i] + (us if us < end else end) - starts[i] + need
    else:
        target = need
    if target > block.total:
        block, target = _later_block(calendar, block, index, target, start, minutes, us)
    i = bisect_left(block.cum_end, target)
    return _EPOCH + dt.timedelta(microseconds=block.starts[i] + target - block.cum[i])


def _later_block(
    calendar: Calendar,
    block: _Block,
    index: int,
    target: int,
    start: dt.datetime,
    minutes: float,
    us: int,
) -> tuple[_Block, int]:
    """Walk whole blocks (their cached totals) until the one holding the deadline."""
    empty_from = index
    while target > block.total:
        target -= block.total
        if block.total:
            empty_from = index + 1
        index += 1
        if (index - empty_from) * BLOCK_DAYS > HORIZON_DAYS:
            raise ValueError(
                f"calendar has no working time in the {HORIZON_DAYS} days after "
                f"{(_EPOCH + dt.timedelta(microseconds=empty_from * BLOCK_US)).date()}"
            )
        if index * BLOCK_US - us > MAX_SPAN_DAYS * US_PER_DAY or (index + 1) * BLOCK_US > _MAX_US:
            raise ValueError(
                f"minutes: {minutes} business minutes from {start.isoformat()} end more than "
                f"{MAX_SPAN_DAYS} days later or beyond the datetime range"
            )
        block = _block(calendar, index)
    return block, target


def business_minutes_between(a: dt.datetime, b: dt.datetime, calendar: Calendar) -> float:
    """Business minutes elapsed from a to b (fractional); 0.0 when b <= a.

    Raises ValueError for naive datetimes or when a and b are more than MAX_SPAN_DAYS apart.
    """
    a_us = _to_us(a, what="a")
    b_us = _to_us(b, what="b")
    if b_us <= a_us:
        return 0.0
    a_index = a_us // BLOCK_US
    b_index = b_us // BLOCK_US
    a_block = calendar._blocks.get(a_index) or _block(calendar, a_index)
    if a_index == b_index:
        return (_position(a_block, b_us) - _position(a_block, a_us)) / US_PER_MINUTE
    if b_us - a_us > MAX_SPAN_DAYS * US_PER_DAY:
        raise ValueError(f"b: more than {MAX_SPAN_DAYS} days after a")
    total = a_block.total - _position(a_block, a_us)
    for index in range(a_index + 1, b_index):
        total += _block(calendar, index).total
    total += _position(_block(calendar, b_index), b_us)
    return total / US_PER_MINUTE


def is_business_time(moment: dt.datetime, calendar: Calendar) -> bool:
    """Whether the calendar's local wall clock is inside a working window at `moment`."""
    us = _to_us(moment, what="moment")
    index = us // BLOCK_US
    block = calendar._blocks.get(index) or _block(calendar, index)
    i = bisect_right(block.starts, us) - 1
    return i >= 0 and us < block.ends[i]


def next_business_moment(moment: dt.datetime, calendar: Calendar) -> dt.datetime:
    """`moment` itself when it is business time, else the start of the next working window
    (an aware UTC datetime). Raises ValueError as add_business_minutes does."""
    if is_business_time(moment, calendar):
        return moment.astimezone(_UTC)
    # One microsecond of business time ends one microsecond after the window opens.
    return add_business_minutes(moment, 1 / US_PER_MINUTE, calendar) - _ONE_US


def deadlines(
    start: dt.datetime, minutes: float, ratio: float, calendar: Calendar
) -> tuple[dt.datetime, dt.datetime]:
    """(due_at, at_risk_at): the deadline `minutes` business minutes after start, and the moment
    `ratio` of that business time has elapsed."""
    due_at = add_business_minutes(start, minutes, calendar)
    at_risk_at = add_business_minutes(start, minutes * min(max(ratio, 0.0), 1.0), calendar)
    return due_at, at_risk_at
