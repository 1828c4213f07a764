"""Rewrite the revenue rollup from the raw handoffs and opportunities.

Run it once after deploying the rollup, after loading rows by SQL (bypassing the services), and
after changing FEEDBACK_SCORE_BANDS. Safe while the desk runs: one transaction; on PostgreSQL
the services' refreshes wait for it.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from pipeline import rollup


class Command(BaseCommand):
    help = "Rewrite the revenue rollup (counts, sums and duration histograms) from the raw rows."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        written = rollup.rebuild()
        self.stdout.write(
            f"Revenue rollup rebuilt in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{n:,} {table} rows" for table, n in written.items())
        )
