"""Rewrite the revenue rollup from the raw handoffs and opportunities, or (`--dirty`) recount the
promotion days that changes marked dirty (what beat runs every minute).

Run the full rebuild once after deploying the rollup, after loading rows by SQL (bypassing the
services), and after changing FEEDBACK_SCORE_BANDS. Safe while the desk runs: one transaction;
on PostgreSQL the refreshes wait for it.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pipeline import rollup


class Command(BaseCommand):
    help = "Rewrite the revenue rollup (counts, sums and duration histograms) from the raw rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dirty",
            action="store_true",
            help="Only recount the promotion days marked dirty (what beat runs every minute).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        if options["dirty"]:
            days = rollup.refresh_dirty()
            if days is None:
                self.stdout.write("Another revenue rollup refresh is running.")
            else:
                self.stdout.write(
                    f"Revenue rollup: {len(days)} dirty day(s) recounted in "
                    f"{time.perf_counter() - started:.1f} s"
                )
            return
        written = rollup.rebuild()
        self.stdout.write(
            f"Revenue rollup rebuilt in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{n:,} {table} rows" for table, n in written.items())
        )
