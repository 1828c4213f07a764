"""`manage.py rebuild_dashboard_rollup`: rewrite the dashboard's rollup (handoff.rollup: its
day rows and week rows) from the handoffs, for every zone read so far, the site's zone and the
team calendars' zones (and any named with --zone). After a bulk load, a restore, or rows written
past the services."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from handoff import rollup


class Command(BaseCommand):
    help = "Rewrite the dashboard's daily rollup from the handoffs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--zone", action="append", default=[], help="Also build this zone (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start = time.perf_counter()
        written = rollup.rebuild(options["zone"])
        for zone, rows in written.items():
            self.stdout.write(f"{zone}: {rows} rows")
        self.stdout.write(f"Rebuilt in {time.perf_counter() - start:.1f} s.")
