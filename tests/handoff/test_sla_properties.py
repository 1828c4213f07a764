"""handoff.sla against a slow oracle that walks UTC minute by minute (or second by second).

The oracle is deliberately naive: for every UTC minute it asks zoneinfo for the local wall clock
and checks whether that wall time lies in a working window of that local date. It knows nothing
about blocks, offset segments or caches, so agreement on thousands of random calendars, starts
and durations is strong evidence the fast code is right, DST and all.

Example counts come from a hypothesis settings profile: `sla-ci` (the default) runs
1,500 + 300 + 1,500 + 200 examples, each oracle example checking 12 starts/durations, so about
20,000 oracle comparisons in well under a minute. `SLA_HYPOTHESIS_PROFILE=sla-thorough` runs
ten times as many.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from handoff.sla import (
    Calendar,
    add_business_minutes,
    build_calendar,
    business_minutes_between,
    is_business_time,
)

UTC = dt.UTC

settings.register_profile(
    "sla-ci",
    deadline=None,
    print_blob=True,
    # The explain phase re-runs failing examples hundreds of times; with an oracle this slow it
    # turns a one-minute failure report into several minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("sla-thorough", parent=settings.get_profile("sla-ci"))
PROFILE = settings.get_profile(os.environ.get("SLA_HYPOTHESIS_PROFILE", "sla-ci"))
SCALE = 10 if os.environ.get("SLA_HYPOTHESIS_PROFILE") == "sla-thorough" else 1


def examples(n: int) -> settings:
    return settings(PROFILE, max_examples=n * SCALE)


# Zones with every kind of change: none, +1h both ways, the 30-minute Lord Howe shift, odd base
# offsets (Kathmandu +5:45, Chatham +12:45/+13:45, St John's -3:30), "negative" DST (Dublin),
# changes at local midnight (Santiago, Havana), Ramadan pauses (Casablanca) and a skipped day
# (Apia, 2011-12-30).
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/Dublin",
    "America/Santiago",
    "America/Havana",
    "Africa/Casablanca",
    "Pacific/Apia",
    "Asia/Tokyo",
]
HOLIDAY_CHOICES = [("", ""), ("US", ""), ("US", "NY"), ("GB", ""), ("AU", "NSW"), ("CL", "")]
# Minutes of the day that sit on or around DST changes in the zones above.
INTERESTING_MINUTES = [0, 30, 60, 90, 120, 150, 180, 1380, 1410, 1440]


# --- the oracle -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A calendar as plain data, read by both the oracle and build_calendar."""

    tz: str
    windows: tuple[tuple[int, int, int], ...]  # (weekday, start_s, end_s), seconds, end<=86400
    country: str
    subdivision: str
    closed: frozenset[dt.date]
    extra: tuple[tuple[dt.date, tuple[tuple[int, int], ...]], ...]

    def build(self) -> Calendar:
        return build_calendar(
            tz=self.tz,
            windows=[(wd, _time(s), _time(e)) for wd, s, e in self.windows],
            holiday_country=self.country,
            holiday_subdivision=self.subdivision,
            closed_dates=self.closed,
            extra_dates={d: [(_time(s), _time(e)) for s, e in ws] for d, ws in self.extra},
        )


def _time(seconds: int) -> dt.time:
    seconds %= 86400  # 86400 (midnight at the end of the day) is written as time(0)
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)


@lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def oracle_walk(spec: Spec, base: dt.datetime, steps: int, step: dt.timedelta) -> list[int]:
    """prefix[i] = how many of the steps [base + k*step, base + (k+1)*step), k < i, are working.

    A step counts when, at its first instant, the local wall clock is inside a window of its
    local date; the windows and zone changes used in these tests fall on step boundaries.
    """
    zone = ZoneInfo(spec.tz)
    extra = dict(spec.extra)
    weekly: dict[int, list[tuple[int, int]]] = {}
    for wd, s, e in spec.windows:
        weekly.setdefault(wd, []).append((s, e))
    by_day: dict[dt.date, tuple[tuple[int, int], ...]] = {}

    def windows_on(day: dt.date) -> tuple[tuple[int, int], ...]:
        if day in spec.closed:
            return ()
        if day in extra:
            return extra[day]
        if spec.country and day in _holiday_dates(spec.country, spec.subdivision, day.year):
            return ()
        return tuple(weekly.get(day.weekday(), ()))

    prefix = [0] * (steps + 1)
    count = 0
    moment = base
    for k in range(1, steps + 1):
        local = moment.astimezone(zone)
        day = local.date()
        windows = by_day.get(day)
        if windows is None:
            windows = by_day[day] = windows_on(day)
        second = local.hour * 3600 + local.minute * 60 + local.second
        for s, e in windows:
            if s <= second < e:
                count += 1
                break
        prefix[k] = count
        moment += step
    return prefix


def first_reaching(prefix: list[int], i: int, count: int) -> int | None:
    """Smallest j >= i with prefix[j] - prefix[i] >= count, or None inside the walk."""
    j = bisect_left(prefix, prefix[i] + count, lo=i)  # prefix never decreases
    return j if j < len(prefix) else None


# --- strategies -----------------------------------------------------------------------------


@lru_cache(maxsize=512)
def transitions(tz: str, year: int) -> tuple[dt.datetime, ...]:
    """UTC instants (to the minute) where the zone's offset changes during `year`."""
    zone = ZoneInfo(tz)
    found = []
    moment = dt.datetime(year, 1, 1, tzinfo=UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        later = moment + dt.timedelta(hours=6)
        if later.astimezone(zone).utcoffset() != offset:
            probe = moment
            while probe.astimezone(zone).utcoffset() == offset:
                probe += dt.timedelta(minutes=1)
            found.append(probe)
            offset = probe.astimezone(zone).utcoffset()
            later = probe
        moment = later
    return tuple(found)


MINUTE_OF_DAY = st.one_of(st.sampled_from(INTERESTING_MINUTES), st.integers(0, 1440))


def _ordered(pair: tuple[int, int], unit: int) -> tuple[int, int]:
    a, b = sorted(pair)
    if a == b:  # an empty window is refused by build_calendar; widen it by one unit
        return (a, a + unit) if a < 86400 else (a - unit, a)
    return (a, b)


WINDOW_BY_UNIT = {
    60: st.tuples(MINUTE_OF_DAY, MINUTE_OF_DAY).map(lambda p: _ordered((p[0] * 60, p[1] * 60), 60)),
    1: st.tuples(st.integers(0, 86400), st.integers(0, 86400)).map(lambda p: _ordered(p, 1)),
}
WEEKLY_BY_UNIT = {
    unit: st.lists(st.tuples(st.integers(0, 6), window), min_size=1, max_size=14).map(
        lambda ws: tuple((wd, s, e) for wd, (s, e) in ws)
    )
    for unit, window in WINDOW_BY_UNIT.items()
}


@st.composite
def specs(draw: st.DrawFn, *, tz: str, around: dt.date, unit: int = 60, span_days: int = 8) -> Spec:
    """A random calendar whose closed and extra dates fall around `around`."""
    windows = draw(WEEKLY_BY_UNIT[unit])
    if draw(st.integers(0, 19)) == 13:  # not 0: hypothesis favours the bounds
        windows = ()  # now and then no weekly work at all: only extra dates, if any
    country, subdivision = draw(st.sampled_from(HOLIDAY_CHOICES))
    days = draw(st.lists(st.integers(-2, span_days), max_size=5, unique=True))
    n_closed = draw(st.integers(0, len(days)))
    closed = frozenset(around + dt.timedelta(days=n) for n in days[:n_closed])
    extra = tuple(
        (around + dt.timedelta(days=n), draw(st.lists(WINDOW_BY_UNIT[unit], max_size=2).map(tuple)))
        for n in sorted(days[n_closed:])
    )
    return Spec(tz, windows, country, subdivision, closed, extra)


@st.composite
def base_instants(draw: st.DrawFn, tz: str, *, unit: int = 60) -> dt.datetime:
    """A start, half the time a few days before (or just around) one of the zone's changes."""
    year = draw(st.integers(1996, 2035))
    changes = transitions(tz, year)
    if changes and draw(st.booleans()):
        change = draw(st.sampled_from(changes))
        lead = draw(st.integers(0, 4 * 86400 // unit)) * unit
        return change - dt.timedelta(seconds=lead)
    day = draw(st.integers(0, 364))
    second = draw(st.integers(0, 86400 // unit - 1)) * unit
    return dt.datetime(year, 1, 1, tzinfo=UTC) + dt.timedelta(days=day, seconds=second)


def local_zone_or_utc(draw: st.DrawFn, tz: str) -> ZoneInfo | dt.timezone:
    """Starts are passed in UTC or in the calendar's own zone; both must work."""
    return ZoneInfo(tz) if draw(st.booleans()) else UTC


# --- the properties -------------------------------------------------------------------------


def describe(spec: Spec, first: dt.datetime, last: dt.datetime) -> None:
    """Label the example, so --hypothesis-show-statistics shows how often each situation ran."""
    zone = ZoneInfo(spec.tz)
    offsets = {
        (first + dt.timedelta(hours=h)).astimezone(zone).utcoffset()
        for h in range(int((last - first).total_seconds() // 3600) + 1)
    }
    event("walk crosses a UTC offset change" if len(offsets) > 1 else "walk has one UTC offset")
    event("calendar has public holidays" if spec.country else "calendar has no public holidays")
    if any(e == 86400 for _, _, e in spec.windows):
        event("calendar has a window ending at midnight")
    if spec.closed or spec.extra:
        event("calendar has closed or extra dates")
    if not spec.windows:
        event("calendar has no weekly windows")


def add_or_none(
    start: dt.datetime, minutes: float, calendar: Calendar, spec: Spec
) -> dt.datetime | None:
    """add_business_minutes, or None when it says the calendar has run out of working time.

    Only a calendar without weekly windows may run out (its extra dates end somewhere).
    """
    try:
        return add_business_minutes(start, minutes, calendar)
    except ValueError as exc:
        assert "no working time" in str(exc)
        assert not spec.windows
        return None


WALK_MINUTES = 8 * 1440  # a week and a day: every weekday, and the weekend, at least once
QUERIES = 12


@examples(1000)
@given(data=st.data())
def test_deadlines_and_elapsed_time_agree_with_a_minute_by_minute_walk(data: st.DataObject):
    tz = data.draw(st.sampled_from(ZONES))
    base = data.draw(base_instants(tz))
    spec = data.draw(specs(tz=tz, around=base.date(), span_days=8))
    calendar = spec.build()
    minute = dt.timedelta(minutes=1)
    prefix = oracle_walk(spec, base, WALK_MINUTES, minute)
    zone = local_zone_or_utc(data.draw, spec.tz)
    describe(spec, base, base + WALK_MINUTES * minute)

    for _ in range(QUERIES):
        i = data.draw(st.integers(0, WALK_MINUTES))
        j = data.draw(st.integers(0, WALK_MINUTES))
        # Compare instants in UTC: Python never calls an aware datetime inside a fold equal to
        # one in another zone (PEP 495), even when both name the same instant.
        start_utc = base + i * minute
        start = start_utc.astimezone(zone)
        end = base + j * minute

        assert business_minutes_between(start, end, calendar) == max(prefix[j] - prefix[i], 0)
        if i < WALK_MINUTES:
            assert is_business_time(start, calendar) == bool(prefix[i + 1] - prefix[i])

        available = prefix[-1] - prefix[i]
        whole = data.draw(st.integers(0, available + 30))
        seconds = data.draw(st.sampled_from([0, 0, 1, 15, 30, 59]))
        minutes = whole + seconds / 60 if seconds and whole < available else float(whole)
        reached = first_reaching(prefix, i, math.ceil(minutes))
        got = add_or_none(start, minutes, calendar, spec)
        if got is None:
            assert reached is None
            continue
        assert got.utcoffset() == dt.timedelta(0)
        if minutes == 0:
            assert got == start_utc
            continue
        if reached is None:
            # Beyond the walk: the deadline lies after it, consistent with what was walked.
            assert got > base + WALK_MINUTES * minute
            continue
        # The last working minute is [reached-1, reached); a fraction ends inside it.
        expected = base + reached * minute
        if seconds and minutes != whole:
            expected = base + (reached - 1) * minute + dt.timedelta(seconds=seconds)
        assert got == expected, (spec, start, minutes)
        assert math.isclose(business_minutes_between(start, got, calendar), minutes)


@examples(300)
@given(data=st.data())
def test_second_aligned_starts_and_windows_agree_with_a_second_by_second_walk(
    data: st.DataObject,
):
    tz = data.draw(st.sampled_from(ZONES))
    base = data.draw(base_instants(tz, unit=1))
    # Two hours each side of the start, which half the time is a DST change.
    base -= dt.timedelta(hours=2)
    spec = data.draw(specs(tz=tz, around=base.date(), unit=1, span_days=1))
    calendar = spec.build()
    second = dt.timedelta(seconds=1)
    steps = 4 * 3600
    prefix = oracle_walk(spec, base, steps, second)

    for _ in range(4):
        i = data.draw(st.integers(0, steps))
        j = data.draw(st.integers(0, steps))
        start = base + i * second
        expected_between = max(prefix[j] - prefix[i], 0) / 60
        assert math.isclose(
            business_minutes_between(start, base + j * second, calendar),
            expected_between,
            abs_tol=1e-9,
        )
        n = data.draw(st.integers(1, max(prefix[-1] - prefix[i], 1)))
        reached = first_reaching(prefix, i, n)
        got = add_or_none(start, n / 60, calendar, spec)
        if got is None:
            assert reached is None
            continue
        if reached is None:
            assert got > base + steps * second
        else:
            assert got == base + reached * second, (spec, start, n)


@st.composite
def long_cases(draw: st.DrawFn) -> tuple[Spec, dt.datetime]:
    """A calendar with at least an hour of work a week, and a start (to the microsecond)."""
    tz = draw(st.sampled_from(ZONES))
    start = draw(base_instants(tz, unit=1)) + dt.timedelta(
        microseconds=draw(st.integers(0, 999_999))
    )
    spec = draw(specs(tz=tz, around=start.date(), span_days=60))
    spec = Spec(
        tz,
        (*spec.windows, (2, 36000, 39600)),  # Wednesdays 10:00-11:00, so searches end soon
        spec.country,
        spec.subdivision,
        spec.closed,
        spec.extra,
    )
    return spec, start


@examples(1500)
@given(case=long_cases(), minutes=st.floats(0, 20_000, allow_nan=False))
def test_adding_then_measuring_gives_back_the_duration_even_over_months(
    case: tuple[Spec, dt.datetime], minutes: float
):
    spec, start = case
    calendar = spec.build()
    deadline = add_business_minutes(start, minutes, calendar)
    assert deadline >= start
    measured = business_minutes_between(start, deadline, calendar)
    assert math.isclose(measured, minutes, rel_tol=1e-12, abs_tol=1e-6)
    assert business_minutes_between(deadline, start, calendar) == 0
    if minutes >= 1:
        # Earliest: one microsecond before the deadline the duration is not yet reached.
        just_before = deadline - dt.timedelta(microseconds=1)
        assert business_minutes_between(start, just_before, calendar) < minutes
        # So the deadline ends a stretch of business time (or lies inside one).
        assert is_business_time(just_before, calendar)


@examples(200)
@given(case=long_cases(), cuts=st.lists(st.integers(0, 90 * 86400), min_size=1, max_size=6))
def test_elapsed_business_time_adds_up_across_any_cut_points(
    case: tuple[Spec, dt.datetime], cuts: list[int]
):
    spec, start = case
    calendar = spec.build()
    points = [start, *sorted(start + dt.timedelta(seconds=c) for c in cuts)]
    whole = business_minutes_between(points[0], points[-1], calendar)
    parts = sum(business_minutes_between(a, b, calendar) for a, b in itertools.pairwise(points))
    assert math.isclose(whole, parts, rel_tol=1e-12, abs_tol=1e-9)
    assert whole <= (points[-1] - points[0]).total_seconds() / 60
