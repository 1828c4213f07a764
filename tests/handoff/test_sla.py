"""handoff.sla, table-driven: each row names a situation and the deadline a person would expect.

The expected values are worked out by hand from the calendar (see each row's comment); the
hypothesis properties in test_sla_properties.py check the same code against a brute-force walk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from handoff.sla import (
    HORIZON_DAYS,
    Calendar,
    add_business_minutes,
    build_calendar,
    business_minutes_between,
    is_business_time,
)

UTC = dt.UTC
T = dt.time
WEEKDAYS = range(5)
EVERY_DAY = range(7)


def at(tz: str, text: str, *, fold: int = 0) -> dt.datetime:
    """An aware datetime from local wall-clock text; fold=1 picks the second of a repeated hour."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz), fold=fold)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


NY = "America/New_York"
OFFICE_NY = build_calendar(
    tz=NY,
    windows=[(d, T(9), T(12)) for d in WEEKDAYS] + [(d, T(13), T(17, 30)) for d in WEEKDAYS],
    holiday_country="US",
)
ALL_DAY_NY = build_calendar(tz=NY, windows=[(d, T(0), T(0)) for d in EVERY_DAY])
EVENINGS_NY = build_calendar(
    tz=NY, windows=[(d, T(20), T(0)) for d in EVERY_DAY] + [(d, T(0), T(4)) for d in EVERY_DAY]
)
SUNDAY_EARLY_NY = build_calendar(tz=NY, windows=[(6, T(1), T(4))])
SUNDAY_IN_THE_GAP_NY = build_calendar(tz=NY, windows=[(6, T(2, 15), T(2, 45))])
SUNDAY_IN_THE_FOLD_NY = build_calendar(tz=NY, windows=[(6, T(1, 15), T(1, 45))])
LONDON = "Europe/London"
NIGHTS_LONDON = build_calendar(tz=LONDON, windows=[(d, T(0, 30), T(1, 30)) for d in EVERY_DAY])
LORD_HOWE = "Australia/Lord_Howe"
SUNDAY_LORD_HOWE = build_calendar(tz=LORD_HOWE, windows=[(6, T(1, 45), T(2, 45))])
SANTIAGO = "America/Santiago"
WEEKEND_NIGHTS_SANTIAGO = build_calendar(tz=SANTIAGO, windows=[(5, T(22), T(0)), (6, T(0), T(2))])
APIA = "Pacific/Apia"
ALL_DAY_APIA = build_calendar(tz=APIA, windows=[(d, T(0), T(0)) for d in EVERY_DAY])
OFFICE_WITH_EXCEPTIONS_NY = build_calendar(
    tz=NY,
    windows=[(d, T(9), T(17)) for d in WEEKDAYS],
    holiday_country="US",
    closed_dates=[dt.date(2025, 8, 15)],  # a Friday: company offsite
    extra_dates={
        dt.date(2025, 8, 16): [(T(10), T(12))],  # a Saturday launch
        dt.date(2025, 8, 18): [(T(14), T(15))],  # a Monday with short hours
        dt.date(2025, 7, 4): [(T(9), T(10))],  # staffed on Independence Day
    },
)


@dataclass(frozen=True)
class Deadline:
    situation: str
    calendar: Calendar
    start: dt.datetime
    minutes: float
    expected: dt.datetime


DEADLINES = [
    Deadline(
        "a start inside a window counts down inside it",
        OFFICE_NY,
        at(NY, "2025-03-05 09:30"),
        60,
        at(NY, "2025-03-05 10:30"),
    ),
    Deadline(
        "a start before opening waits for the opening",
        OFFICE_NY,
        at(NY, "2025-03-05 06:00"),
        15,
        at(NY, "2025-03-05 09:15"),
    ),
    Deadline(
        "a start at lunch resumes after lunch",
        OFFICE_NY,
        at(NY, "2025-03-05 12:20"),
        30,
        at(NY, "2025-03-05 13:30"),
    ),
    Deadline(
        "a deadline that uses up the morning ends at noon, not after lunch",
        OFFICE_NY,
        at(NY, "2025-03-05 09:00"),
        180,
        at(NY, "2025-03-05 12:00"),
    ),
    Deadline(
        "one minute more than the morning is the first minute after lunch",
        OFFICE_NY,
        at(NY, "2025-03-05 09:00"),
        181,
        at(NY, "2025-03-05 13:01"),
    ),
    Deadline(
        "a start after closing waits for the next morning",
        OFFICE_NY,
        at(NY, "2025-03-05 19:00"),
        240,
        at(NY, "2025-03-06 14:00"),
    ),
    Deadline(
        "friday afternoon rolls over the weekend to monday",
        OFFICE_NY,
        at(NY, "2025-02-28 16:00"),  # 90 minutes left on Friday, 150 go to Monday
        240,
        at(NY, "2025-03-03 11:30"),
    ),
    Deadline(
        "a saturday start waits for monday morning",
        OFFICE_NY,
        at(NY, "2025-03-01 11:00"),
        15,
        at(NY, "2025-03-03 09:15"),
    ),
    Deadline(
        "a working week of 7.5 hours a day lands a week later at the same time",
        OFFICE_NY,
        at(NY, "2025-03-04 10:00"),
        5 * 450,
        at(NY, "2025-03-11 10:00"),
    ),
    Deadline(
        "independence day is skipped",
        OFFICE_NY,
        at(NY, "2025-07-03 17:00"),  # Thursday; Friday 4 July is a holiday
        60,
        at(NY, "2025-07-07 09:30"),
    ),
    Deadline(
        "a holiday on a saturday is observed on the friday before",
        OFFICE_NY,
        at(NY, "2026-07-02 17:00"),  # 4 July 2026 is a Saturday, so Friday 3 July is off
        60,
        at(NY, "2026-07-06 09:30"),
    ),
    Deadline(
        "thanksgiving is skipped but the friday after is a working day",
        OFFICE_NY,
        at(NY, "2025-11-26 17:00"),
        60,
        at(NY, "2025-11-28 09:30"),
    ),
    Deadline(
        "a calendar for a year far ahead works without being rebuilt",
        OFFICE_NY,
        at(NY, "2099-12-24 17:00"),  # Thursday; Christmas 2099 is a Friday
        60,
        at(NY, "2099-12-28 09:30"),
    ),
    Deadline(
        "zero minutes returns the start even outside working hours",
        OFFICE_NY,
        at(NY, "2025-03-01 23:59"),
        0,
        at(NY, "2025-03-01 23:59"),
    ),
    Deadline(
        "half a minute is thirty seconds",
        OFFICE_NY,
        at(NY, "2025-03-05 09:00"),
        0.5,
        at(NY, "2025-03-05 09:00:30"),
    ),
    Deadline(
        "fractions of a minute carry across lunch",
        OFFICE_NY,
        at(NY, "2025-03-05 11:59:45"),
        0.75,  # 15 seconds before noon, 30 seconds after 13:00
        at(NY, "2025-03-05 13:00:30"),
    ),
    Deadline(
        "a start with seconds keeps its seconds",
        OFFICE_NY,
        at(NY, "2025-03-05 10:00:07.250000"),
        15,
        at(NY, "2025-03-05 10:15:07.250000"),
    ),
    Deadline(
        "a round-the-clock calendar is plain elapsed time across spring forward",
        ALL_DAY_NY,
        at(NY, "2025-03-09 01:00"),
        120,  # 01:00 EST + 2 real hours = 04:00 EDT
        at(NY, "2025-03-09 04:00"),
    ),
    Deadline(
        "a round-the-clock calendar is plain elapsed time across fall back",
        ALL_DAY_NY,
        at(NY, "2025-11-02 00:30"),
        120,  # 00:30 EDT + 2 real hours = 01:30 EST, the second 01:30
        at(NY, "2025-11-02 01:30", fold=1),
    ),
    Deadline(
        "spring forward shortens a window that spans the missing hour",
        SUNDAY_EARLY_NY,
        at(NY, "2025-03-09 00:00"),  # 01:00-04:00 has only 2 real hours that day
        150,
        at(NY, "2025-03-16 01:30"),
    ),
    Deadline(
        "fall back lengthens a window that spans the repeated hour",
        SUNDAY_EARLY_NY,
        at(NY, "2025-11-02 00:00"),  # 01:00-04:00 lasts 4 real hours that day
        210,  # 1h to the first 02:00 EDT, then 01:00-03:30 EST
        at(NY, "2025-11-02 03:30"),
    ),
    Deadline(
        "a window entirely inside the spring forward gap gives no time that day",
        SUNDAY_IN_THE_GAP_NY,
        at(NY, "2025-03-08 12:00"),
        10,
        at(NY, "2025-03-16 02:25"),
    ),
    Deadline(
        "a window inside the repeated hour counts both times the clock shows it",
        SUNDAY_IN_THE_FOLD_NY,
        at(NY, "2025-11-01 12:00"),
        45,  # 30 minutes in the EDT pass, then 15 in the EST pass
        at(NY, "2025-11-02 01:30", fold=1),
    ),
    Deadline(
        "a window ending at midnight runs into the next day's window without a break",
        EVENINGS_NY,
        at(NY, "2025-03-05 23:00"),
        120,
        at(NY, "2025-03-06 01:00"),
    ),
    Deadline(
        "a window ending at midnight then resumes the next evening",
        EVENINGS_NY,
        at(NY, "2025-03-05 03:00"),
        120,  # 03:00-04:00, then 20:00-21:00
        at(NY, "2025-03-05 21:00"),
    ),
    Deadline(
        "london's spring forward at 01:00 cuts a 00:30-01:30 window to half an hour",
        NIGHTS_LONDON,
        at(LONDON, "2025-03-30 00:00"),
        45,  # 00:30-01:00 GMT, then 15 minutes from 00:30 BST on the 31st
        at(LONDON, "2025-03-31 00:45"),
    ),
    Deadline(
        "london's fall back repeats 01:00-01:30 inside a 00:30-01:30 window",
        NIGHTS_LONDON,
        at(LONDON, "2025-10-26 00:30"),
        75,  # 00:30-01:30 BST (60), then 01:00-01:15 GMT
        at(LONDON, "2025-10-26 01:15", fold=1),
    ),
    Deadline(
        "lord howe's half-hour spring forward takes half an hour out of a window",
        SUNDAY_LORD_HOWE,
        at(LORD_HOWE, "2025-10-05 01:00"),  # 01:45-02:00, then 02:30-02:45: 30 minutes
        40,
        at(LORD_HOWE, "2025-10-12 01:55"),
    ),
    Deadline(
        "lord howe's half-hour fall back adds half an hour to a window",
        SUNDAY_LORD_HOWE,
        at(LORD_HOWE, "2025-04-06 01:00"),  # 01:45-02:00 DST (15), 01:45-02:45 standard (60)
        70,
        at(LORD_HOWE, "2025-04-06 02:40"),
    ),
    Deadline(
        "santiago's midnight spring forward removes the first hour of sunday",
        WEEKEND_NIGHTS_SANTIAGO,
        at(SANTIAGO, "2025-09-06 21:00"),  # Sat 22:00-24:00 (120), Sun 01:00-02:00 (60)
        170,
        at(SANTIAGO, "2025-09-07 01:50"),
    ),
    Deadline(
        "santiago's midnight fall back repeats the last hour of saturday",
        WEEKEND_NIGHTS_SANTIAGO,
        at(SANTIAGO, "2025-04-05 21:00"),  # Sat 22:00-24:00 -03 then 23:00-24:00 -04 again
        170,
        at(SANTIAGO, "2025-04-05 23:50", fold=1),
    ),
    Deadline(
        "a day skipped by a time zone (apia, 30 december 2011) just passes",
        ALL_DAY_APIA,
        at(APIA, "2011-12-29 23:00"),
        120,
        at(APIA, "2011-12-31 01:00"),
    ),
    Deadline(
        "a closed date is skipped like a holiday",
        OFFICE_WITH_EXCEPTIONS_NY,
        at(NY, "2025-08-14 16:30"),  # Thursday; Friday 15 August is closed
        60,
        at(NY, "2025-08-16 10:30"),  # ...and Saturday 16 August is an extra working day
    ),
    Deadline(
        "an extra date's windows replace the weekday's windows",
        OFFICE_WITH_EXCEPTIONS_NY,
        at(NY, "2025-08-16 11:30"),  # Sat 11:30-12:00 (30), Mon only 14:00-15:00
        60,
        at(NY, "2025-08-18 14:30"),
    ),
    Deadline(
        "an extra date opens a holiday for its own hours only",
        OFFICE_WITH_EXCEPTIONS_NY,
        at(NY, "2025-07-04 08:00"),
        90,  # 09:00-10:00 on the 4th, then Monday 7 July 09:00-09:30
        at(NY, "2025-07-07 09:30"),
    ),
    Deadline(
        "a start given in another time zone means the same instant",
        OFFICE_NY,
        at("Europe/Paris", "2025-03-05 15:30"),  # 09:30 in New York
        60,
        at(NY, "2025-03-05 10:30"),
    ),
]


@pytest.mark.parametrize("case", DEADLINES, ids=[c.situation for c in DEADLINES])
def test_a_deadline_lands_where_a_person_reading_the_calendar_expects(case: Deadline):
    got = add_business_minutes(case.start, case.minutes, case.calendar)
    assert got == case.expected.astimezone(UTC)
    assert got.tzinfo is UTC


@pytest.mark.parametrize("case", DEADLINES, ids=[c.situation for c in DEADLINES])
def test_the_business_time_from_start_to_deadline_is_the_duration(case: Deadline):
    assert business_minutes_between(case.start, case.expected, case.calendar) == case.minutes


@dataclass(frozen=True)
class Elapsed:
    situation: str
    calendar: Calendar
    a: dt.datetime
    b: dt.datetime
    minutes: float


ELAPSED = [
    Elapsed(
        "a whole working day is 7.5 hours",
        OFFICE_NY,
        at(NY, "2025-03-05 00:00"),
        at(NY, "2025-03-06 00:00"),
        450,
    ),
    Elapsed(
        "a weekend counts nothing",
        OFFICE_NY,
        at(NY, "2025-03-01 00:00"),
        at(NY, "2025-03-03 00:00"),
        0,
    ),
    Elapsed(
        "a week with a holiday counts four days",
        OFFICE_NY,
        at(NY, "2025-06-30 00:00"),
        at(NY, "2025-07-07 00:00"),
        4 * 450,
    ),
    Elapsed(
        "the end before the start counts nothing",
        OFFICE_NY,
        at(NY, "2025-03-06 00:00"),
        at(NY, "2025-03-05 00:00"),
        0,
    ),
    Elapsed(
        "the same instant counts nothing",
        OFFICE_NY,
        at(NY, "2025-03-05 10:00"),
        at(NY, "2025-03-05 10:00"),
        0,
    ),
    Elapsed(
        "lunch counts nothing",
        OFFICE_NY,
        at(NY, "2025-03-05 12:00"),
        at(NY, "2025-03-05 13:00"),
        0,
    ),
    Elapsed(
        "seconds count as fractions of a minute",
        OFFICE_NY,
        at(NY, "2025-03-05 11:59:30"),
        at(NY, "2025-03-05 13:00:15"),
        0.75,
    ),
    Elapsed(
        "the spring forward sunday has 23 round-the-clock hours",
        ALL_DAY_NY,
        at(NY, "2025-03-09 00:00"),
        at(NY, "2025-03-10 00:00"),
        23 * 60,
    ),
    Elapsed(
        "the fall back sunday has 25 round-the-clock hours",
        ALL_DAY_NY,
        at(NY, "2025-11-02 00:00"),
        at(NY, "2025-11-03 00:00"),
        25 * 60,
    ),
    Elapsed(
        "a whole year of office days counts every working day once",
        OFFICE_NY,
        at(NY, "2025-01-01 00:00"),
        at(NY, "2026-01-01 00:00"),
        # 261 weekdays in 2025 less 11 federal holidays on weekdays
        (261 - 11) * 450,
    ),
]


@pytest.mark.parametrize("case", ELAPSED, ids=[c.situation for c in ELAPSED])
def test_elapsed_business_time_is_what_the_calendar_says(case: Elapsed):
    assert business_minutes_between(case.a, case.b, case.calendar) == case.minutes


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(NY, "2025-03-05 08:59:59"), False),
        (at(NY, "2025-03-05 09:00"), True),
        (at(NY, "2025-03-05 11:59:59.999999"), True),
        (at(NY, "2025-03-05 12:00"), False),
        (at(NY, "2025-03-05 17:29"), True),
        (at(NY, "2025-03-05 17:30"), False),
        (at(NY, "2025-03-08 10:00"), False),  # Saturday
        (at(NY, "2025-12-25 10:00"), False),  # Christmas
        (utc("2025-03-05 14:30"), True),  # 09:30 in New York
    ],
    ids=lambda value: value.isoformat() if isinstance(value, dt.datetime) else str(value),
)
def test_business_time_is_open_at_the_start_of_a_window_and_closed_at_its_end(
    moment: dt.datetime, expected: bool
):
    assert is_business_time(moment, OFFICE_NY) is expected


def test_the_repeated_hour_is_business_time_both_times_the_clock_shows_it():
    assert is_business_time(at(NY, "2025-11-02 01:30", fold=0), SUNDAY_IN_THE_FOLD_NY)
    assert is_business_time(at(NY, "2025-11-02 01:30", fold=1), SUNDAY_IN_THE_FOLD_NY)


def test_a_deadline_over_several_years_comes_back_as_the_same_duration():
    start = at(NY, "2025-03-05 10:00")
    minutes = 3 * 250 * 450  # about three working years
    deadline = add_business_minutes(start, minutes, OFFICE_NY)
    assert business_minutes_between(start, deadline, OFFICE_NY) == minutes
    assert deadline.year == 2028


def test_a_calendar_with_no_working_time_refuses_a_deadline_instead_of_searching_forever():
    never = build_calendar(tz=NY, windows=[])
    with pytest.raises(ValueError, match=f"no working time in the {HORIZON_DAYS} days"):
        add_business_minutes(at(NY, "2025-03-05 10:00"), 15, never)
    assert business_minutes_between(utc("2025-01-01 00:00"), utc("2026-01-01 00:00"), never) == 0
    # Zero minutes still needs no working time at all.
    assert add_business_minutes(utc("2025-01-01 00:00"), 0, never) == utc("2025-01-01 00:00")


def test_a_calendar_whose_only_working_day_has_passed_refuses_a_deadline_after_it():
    once = build_calendar(tz=NY, windows=[], extra_dates={dt.date(2025, 3, 5): [(T(9), T(10))]})
    assert add_business_minutes(at(NY, "2025-03-05 08:00"), 30, once) == at(NY, "2025-03-05 09:30")
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(at(NY, "2025-03-05 08:00"), 61, once)


def test_equal_calendars_are_equal_and_hashable_so_callers_can_cache_them():
    def build() -> Calendar:
        return build_calendar(
            tz=NY,
            windows=[(0, T(13), T(17, 30)), (0, T(9), T(12))],
            holiday_country="US",
            extra_dates={dt.date(2025, 8, 16): [(T(10), T(12))]},
        )

    first, second = build(), build()
    add_business_minutes(utc("2025-03-05 00:00"), 60, first)  # fills first's cache only
    assert first == second
    assert hash(first) == hash(second)
    assert first != OFFICE_NY


def test_overlapping_windows_on_a_day_count_once():
    overlapping = build_calendar(tz=NY, windows=[(2, T(9), T(12)), (2, T(11), T(14))])
    a, b = at(NY, "2025-03-05 00:00"), at(NY, "2025-03-06 00:00")
    assert business_minutes_between(a, b, overlapping) == 300


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tz": "Mars/Olympus_Mons"}, "tz: unknown time zone"),
        ({"windows": [(7, T(9), T(17))]}, "weekday must be 0"),
        ({"windows": [(0, T(17), T(9))]}, "end 09:00:00 must be after start 17:00:00"),
        ({"windows": [(0, T(9), T(9))]}, "must be after start"),
        ({"windows": [(0, "09:00", T(17))]}, "must be a datetime.time"),
        ({"windows": [(0, T(9))]}, "expected \\(weekday, start, end\\)"),
        ({"holiday_country": "XX"}, "holiday_country: Country XX not available"),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_subdivision": "NY"}, "holiday_subdivision: needs a holiday_country"),
        (
            {
                "closed_dates": [dt.date(2025, 1, 2)],
                "extra_dates": {dt.date(2025, 1, 2): [(T(9), T(10))]},
            },
            "2025-01-02 is also in closed_dates",
        ),
        ({"extra_dates": {dt.date(2025, 1, 2): [(T(10), T(9))]}}, "extra_dates\\[2025-01-02\\]"),
    ],
    ids=[
        "unknown time zone",
        "weekday out of range",
        "end before start",
        "empty window",
        "start is not a time",
        "window missing its end",
        "unknown holiday country",
        "unknown holiday subdivision",
        "subdivision without country",
        "date both closed and extra",
        "extra window ends before it starts",
    ],
)
def test_a_bad_calendar_is_refused_with_a_message_naming_the_field(kwargs: dict, message: str):
    arguments: dict = {"tz": NY, "windows": [(0, T(9), T(17))], **kwargs}
    with pytest.raises(ValueError, match=message):
        build_calendar(**arguments)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: add_business_minutes(dt.datetime(2025, 3, 5, 10), 5, OFFICE_NY), "start must"),
        (lambda: add_business_minutes(utc("2025-03-05 10:00"), -1, OFFICE_NY), "minutes must"),
        (
            lambda: add_business_minutes(utc("2025-03-05 10:00"), float("nan"), OFFICE_NY),
            "minutes must",
        ),
        (
            lambda: add_business_minutes(utc("2025-03-05 10:00"), float("inf"), OFFICE_NY),
            "minutes must",
        ),
        (
            lambda: business_minutes_between(
                utc("2025-03-05 10:00"), dt.datetime(2025, 3, 6), OFFICE_NY
            ),
            "b must be timezone-aware",
        ),
        (lambda: is_business_time(dt.datetime(2025, 3, 5, 10), OFFICE_NY), "moment must"),
    ],
    ids=[
        "naive start",
        "negative minutes",
        "nan minutes",
        "infinite minutes",
        "naive end",
        "naive moment",
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(call, message: str):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_deadline_more_than_a_century_away_is_refused_rather_than_computed():
    with pytest.raises(ValueError, match=r"minutes: .* end more than"):
        add_business_minutes(utc("2025-01-01 00:00"), 101 * 366 * 24 * 60, ALL_DAY_NY)


def test_elapsed_time_over_more_than_a_century_is_refused_rather_than_computed():
    with pytest.raises(ValueError, match="b: more than"):
        business_minutes_between(utc("1900-01-01 00:00"), utc("2025-01-01 00:00"), OFFICE_NY)
