"""Recount the feedback rollup from the handoffs (feedback.rollup.rebuild), e.g. after a load
by SQL with the triggers off or after changing TIME_ZONE; `--compact` only folds the delta
rows."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from feedback import rollup


class Command(BaseCommand):
    help = "Recount the feedback rollup from the handoffs (or, with --compact, fold its deltas)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--compact", action="store_true", help="only fold the delta rows into their months"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start = time.perf_counter()
        if options["compact"]:
            folded = rollup.compact(after=0)
            if folded is None:
                self.stdout.write("Another compaction is running; nothing done.")
                return
            self.stdout.write(f"Folded {folded} delta rows in {time.perf_counter() - start:.2f} s.")
            return
        rows = rollup.rebuild()
        self.stdout.write(
            f"Feedback rollup rebuilt: {rows} rows in {time.perf_counter() - start:.2f} s."
        )
