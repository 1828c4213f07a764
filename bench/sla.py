"""Benchmark: SLA deadlines with handoff.sla, beside raw baselines measured in the same run.

    .venv/bin/python bench/sla.py [--n 100000] [--repeat 7] [--seed 3]

The calendar: America/New_York, Monday to Friday 09:00-12:00 and 13:00-17:30, US public
holidays. The inputs: n starts uniformly random (to the second) across 2025, so both DST changes
(9 March and 2 November) and eleven holidays are in range, and durations from 15 business minutes
to five business days (half typical SLA values, half uniform). Timed, each `repeat` times:

  - cold deadlines: a freshly built calendar (empty cache) computing the n deadlines, so the
    time includes building the cached business intervals;
  - warm deadlines: the same n deadlines again on a calendar whose cache is filled, which is how
    the app uses it (handoff.selectors.calendar_for caches calendars);
  - warm deadlines with long durations (20 to 250 business days), which cross many cached
    blocks: this is the whole-block skipping;
  - business_minutes_between for n pairs (start, start + 0 to 30 days), warm;
  - baselines on the same inputs: `start + timedelta(minutes=m)`, `start.astimezone(zone)`, and
    `b - a` for the pairs.

Prints the best and median of each, deadlines per second and the ratio to the baselines, then
checks every deadline (business_minutes_between(start, deadline) == minutes, untimed).
Target: n = 100,000 deadlines in under 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handoff.sla import (  # noqa: E402  (the path above makes the checkout importable)
    Calendar,
    add_business_minutes,
    build_calendar,
    business_minutes_between,
)

TZ = "America/New_York"
TARGET_SECONDS = 2.0
TYPICAL_SLAS = [15, 30, 60, 120, 240, 480, 960]  # 15 minutes .. about two business days
MAX_MINUTES = 5 * 450  # five business days of 7.5 hours


def make_calendar() -> Calendar:
    windows = [(d, dt.time(9), dt.time(12)) for d in range(5)]
    windows += [(d, dt.time(13), dt.time(17, 30)) for d in range(5)]
    return build_calendar(tz=TZ, windows=windows, holiday_country="US")


def make_inputs(
    n: int, seed: int
) -> tuple[list[dt.datetime], list[int], list[tuple[dt.datetime, dt.datetime]]]:
    rng = random.Random(seed)
    year_start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    seconds_in_year = 365 * 86400
    starts = [year_start + dt.timedelta(seconds=rng.randrange(seconds_in_year)) for _ in range(n)]
    minutes = [
        rng.choice(TYPICAL_SLAS) if rng.random() < 0.5 else rng.randint(15, MAX_MINUTES)
        for _ in range(n)
    ]
    pairs = [(s, s + dt.timedelta(seconds=rng.randrange(30 * 86400))) for s in starts]
    return starts, minutes, pairs


def timed(repeat: int, run: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return times


def workloads(
    starts: list[dt.datetime],
    minutes: list[int],
    pairs: list[tuple[dt.datetime, dt.datetime]],
    seed: int,
) -> dict[str, Callable[[], None]]:
    """The timed runs by key: the calendar's (cold, warm, long, between) and the baselines."""
    zone = ZoneInfo(TZ)
    work = list(zip(starts, minutes, strict=True))

    def cold() -> None:
        calendar = make_calendar()
        for s, m in work:
            add_business_minutes(s, m, calendar)

    warm_calendar = make_calendar()
    add_business_minutes(starts[0], 1, warm_calendar)

    def warm() -> None:
        for s, m in work:
            add_business_minutes(s, m, warm_calendar)

    rng = random.Random(seed + 1)
    long_work = [(s, rng.randint(20 * 450, 250 * 450)) for s in starts]

    def warm_long() -> None:
        for s, m in long_work:
            add_business_minutes(s, m, warm_calendar)

    def between() -> None:
        for a, b in pairs:
            business_minutes_between(a, b, warm_calendar)

    def base_add() -> None:
        for s, m in work:
            s + dt.timedelta(minutes=m)

    def base_zone() -> None:
        for s in starts:
            s.astimezone(zone)

    def base_sub() -> None:
        for a, b in pairs:
            b - a

    return {
        "cold": cold,
        "warm": warm,
        "long": warm_long,
        "between": between,
        "add": base_add,
        "zone": base_zone,
        "sub": base_sub,
    }


def measure(runs: dict[str, Callable[[], None]], repeat: int) -> dict[str, list[float]]:
    """Interleave the measurements so background load on the machine hits all alike."""
    results: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeat):
        for key, run in runs.items():
            results[key].extend(timed(1, run))
    return results


def report(results: dict[str, list[float]], n: int, repeat: int) -> tuple[float, float]:
    """Print the table; return the cold and warm medians the target reads."""

    def line(label: str, key: str, per: str) -> tuple[float, float]:
        best, median = min(results[key]), statistics.median(results[key])
        print(
            f"  {label:<46} best {best:7.3f} s  median {median:7.3f} s  "
            f"{n / best:>12,.0f} {per}/s (best)"
        )
        return best, median

    print(f"handoff.sla bench: n={n:,} inputs across 2025 in {TZ}, two windows a day, US holidays,")
    print(f"both DST changes in range; best and median of {repeat} interleaved runs")
    print("deadlines (add_business_minutes):")
    cold_best, cold_median = line(
        "cold: fresh calendar, cache filled on the way", "cold", "deadlines"
    )
    warm_best, warm_median = line("warm: cached calendar", "warm", "deadlines")
    line("warm, 20-250 business days each", "long", "deadlines")
    add_best, _ = line("baseline: start + timedelta(minutes=m)", "add", "sums")
    zone_best, _ = line("baseline: start.astimezone(ZoneInfo)", "zone", "conversions")
    print(
        f"  ratio warm / timedelta sum: {warm_best / add_best:.1f}x;  "
        f"warm / zoneinfo conversion: {warm_best / zone_best:.1f}x;  "
        f"cold / warm: {cold_best / warm_best:.2f}x"
    )
    print("elapsed business time (business_minutes_between):")
    between_best, _ = line("warm: cached calendar, spans of 0-30 days", "between", "pairs")
    sub_best, _ = line("baseline: b - a", "sub", "subtractions")
    print(f"  ratio between / subtraction: {between_best / sub_best:.1f}x")
    return cold_median, warm_median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.n, args.repeat

    starts, minutes, pairs = make_inputs(n, args.seed)
    offsets = {s.astimezone(ZoneInfo(TZ)).utcoffset() for s in starts}
    assert len(offsets) == 2, "the starts must straddle a DST change"
    make_calendar()  # loads the holidays package once, outside every timing

    runs = workloads(starts, minutes, pairs, args.seed)
    cold_median, warm_median = report(measure(runs, repeat), n, repeat)

    # Untimed: every deadline really is its duration of business time after its start.
    checker = make_calendar()
    wrong = sum(
        business_minutes_between(s, add_business_minutes(s, m, checker), checker) != m
        for s, m in zip(starts, minutes, strict=True)
    )
    print(f"check: {n - wrong:,} of {n:,} deadlines measure back to their duration")

    verdict = "PASS" if cold_median < TARGET_SECONDS and n >= 100_000 else "FAIL"
    print(
        f"target: {n:,} deadlines in under {TARGET_SECONDS:.0f} s (cold, median): "
        f"{cold_median:.3f} s -> {verdict} (warm median {warm_median:.3f} s)"
    )
    return 0 if verdict == "PASS" and not wrong else 1


if __name__ == "__main__":
    raise SystemExit(main())
