"""`manage.py import_leads FILE.csv`: import a large CSV of leads, all or nothing.

The same recognition and mapping as the import page and the admin import (leads.imports): a
HubSpot, Salesforce or Marketo export is read unedited, or `--mapping NAME` applies a mapping
saved on the import page. The file is read twice, streaming: the check reports each bad row by
line, column and value; only when every row is good does the second pass write, in batches of
set-based upserts inside ONE transaction, so a failure half-way leaves nothing behind.
`--skip-bad-rows` is the explicit opt-out: the good rows are imported, the bad ones listed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from core.errors import DomainError
from leads import csvfile
from leads.imports import services as imports

MAX_ERRORS_SHOWN = 200


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file (a desk, HubSpot, Salesforce or Marketo header); "
        "all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--batch-size", type=int, default=imports.BATCH_SIZE)
        parser.add_argument(
            "--mapping", default="", help="A mapping saved on the import page, by name."
        )
        parser.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="Import the good rows even when some are bad (the bad ones are listed).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check the file, write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=None,
            help="Refuse a bigger file (default: the LEAD_IMPORT_FILE_MAX_BYTES setting).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        limit = options["max_bytes"] or settings.LEAD_IMPORT_FILE_MAX_BYTES
        too_big = csvfile.size_problem(
            path.stat().st_size, limit, hint="split it, or raise --max-bytes. Nothing was imported."
        )
        if too_big:
            raise CommandError(too_big)
        started = time.monotonic()
        quiet = options["no_progress"] or options["verbosity"] == 0

        def open_file() -> Any:
            return path.open("rb")

        try:
            chosen = (
                imports.import_mapping_get(name=options["mapping"]).columns
                if options["mapping"]
                else None
            )
            mapping = imports.mapping_for(open_file, chosen=chosen)
            if not mapping.ok:
                raise CommandError(" ".join(mapping.problems) + " Nothing was imported.")
            if options["verbosity"] > 0:
                self._describe(mapping)
            with tqdm(unit="rows", desc="checking", disable=quiet, file=self.stderr) as bar:
                result = imports.import_check(
                    open_file=open_file, mapping=mapping, on_row=lambda _: bar.update(1)
                )
        except (imports.ImportRefused, DomainError) as exc:
            raise CommandError(str(exc)) from None
        bad = result.bad
        if bad:
            self._report(bad)
        if bad and not options["skip_bad_rows"]:
            raise CommandError(
                f"{len(bad):,} of {result.total:,} rows are bad; nothing was imported. Fix "
                f"them, or run again with --skip-bad-rows to import the {result.good:,} good "
                "rows."
            )
        if options["dry_run"]:
            self.stdout.write(
                f"Dry run: {result.good:,} good rows ({result.to_create:,} to create, "
                f"{result.to_update:,} to update), {len(bad):,} bad; nothing written."
            )
            return

        try:
            with (
                transaction.atomic(),
                tqdm(
                    total=result.good, unit="rows", desc="importing", disable=quiet,
                    file=self.stderr,
                ) as bar,
            ):  # fmt: skip
                created, updated = imports.import_write(
                    open_file=open_file,
                    mapping=mapping,
                    skip=set(bad),
                    batch_size=options["batch_size"],
                    on_batch=lambda lines, _: bar.update(len(lines)),
                )
        except (imports.ImportRefused, DomainError) as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {created + updated:,} leads ({created:,} created, {updated:,} "
                f"updated, {len(bad):,} bad rows skipped) from {result.total:,} rows in "
                f"{elapsed:.1f}s ({(created + updated) / max(elapsed, 1e-9):,.0f} rows/s)."
            )
        )

    def _describe(self, mapping: Any) -> None:
        if mapping.tool != "Spreadsheet" or not mapping.strict:
            self.stdout.write(f"Recognised: {mapping.tool}.")
        skipped = [c.header for c in mapping.skipped]
        if skipped:
            self.stdout.write(f"Columns skipped (no lead field): {', '.join(skipped)}.")

    def _report(self, bad: dict[int, str]) -> None:
        for line, why in list(bad.items())[:MAX_ERRORS_SHOWN]:
            self.stderr.write(f"line {line}: {why}")
        if len(bad) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"... and {len(bad) - MAX_ERRORS_SHOWN:,} more bad rows")
