"""Match every lead without an account to one by company domain, in bulk (a one-off after
accounts were introduced, or after a bulk load that bypassed the services)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from leads.accounts import accounts_backfill


class Command(BaseCommand):
    help = "Match leads without an account to accounts by company domain (free mail: none)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch", type=int, default=50_000, help="Leads per UPDATE.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        counts = accounts_backfill(batch=options["batch"])
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{counts['leads_matched']:,} leads matched, {counts['accounts_created']:,} accounts "
            f"created in {seconds:.1f} s."
        )
