"""`manage.py import_leads FILE.csv`: import a large CSV of leads, all or nothing.

The file is read twice, streaming (memory grows with the number of distinct emails, not with
the file): the first pass checks every row with the bulk API's rules and reports each bad row
with its line number; only when every row is good does the second pass write, in batches of
set-based upserts inside ONE transaction, so a failure half-way leaves nothing behind.
`--skip-bad-rows` is the explicit opt-out: the good rows are imported, the bad ones listed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from tqdm import tqdm

from leads import csvfile, erasure, roles, services
from leads.ingest import WRITABLE_FIELDS, clean_lead_row
from leads.models import Campaign

# Columns of our own CSV export that an import reads past (the system sets them).
IGNORED_COLUMNS = frozenset({"id", "stage", "score", "ready_for_sales", "created_at"})
MAX_ERRORS_SHOWN = 200


class Command(BaseCommand):
    help = "Import leads from a CSV file (header row with at least 'email'); all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--batch-size", type=int, default=1000)
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
        total = self._count_rows(path)

        bad, good_count = self._check(path, total=total, quiet=quiet)
        if bad:
            self._report(bad)
        if bad and not options["skip_bad_rows"]:
            raise CommandError(
                f"{len(bad):,} of {total:,} rows are bad; nothing was imported. Fix them, or "
                f"run again with --skip-bad-rows to import the {good_count:,} good rows."
            )
        if options["dry_run"]:
            self.stdout.write(
                f"Dry run: {good_count:,} good rows, {len(bad):,} bad; nothing written."
            )
            return

        created = updated = 0
        now = timezone.now()
        with (
            transaction.atomic(),
            tqdm(
                total=good_count, unit="rows", desc="importing", disable=quiet, file=self.stderr
            ) as bar,
        ):
            for batch in self._batches(path, skip=set(bad), size=options["batch_size"]):
                outcome = services.leads_bulk_upsert(
                    rows=[row for _, row in batch],
                    actor=None,
                    now=now,
                    blank_is_missing=True,
                    allow_events=False,
                )
                if outcome.failed:
                    # Checked in the first pass; something changed meanwhile (a campaign
                    # deleted, an owner deactivated). Roll everything back.
                    first = next(r for r in outcome.results if r["status"] == "error")
                    line = batch[first["row"]][0]
                    raise CommandError(
                        f"line {line}: {first['errors']} (changed since the check); "
                        "nothing was imported."
                    )
                created += outcome.created
                updated += outcome.updated
                bar.update(len(batch))
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {created + updated:,} leads ({created:,} created, {updated:,} "
                f"updated, {len(bad):,} bad rows skipped) from {total:,} rows in "
                f"{elapsed:.1f}s ({(created + updated) / max(elapsed, 1e-9):,.0f} rows/s)."
            )
        )

    # --- reading ------------------------------------------------------------------------------

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line, cells by column) per record. A file that is not UTF-8 or has a quote that
        never closes stops the command at that line (leads.csvfile), before any write."""
        with path.open("rb") as handle:
            try:
                rows = csvfile.records(csvfile.decoded_lines(handle))
                _, header = next(rows, (0, []))
                headers = [h.strip() for h in header]
                if "email" not in headers:
                    raise CommandError(
                        "The first line must be a header naming the columns, with 'email'."
                    )
                named = {csvfile.unzoned_header(h) for h in headers}  # "created_at (UTC)"
                unknown = sorted(named - set(WRITABLE_FIELDS) - IGNORED_COLUMNS)
                if unknown:
                    raise CommandError(
                        f"Unknown column(s): {', '.join(unknown)}. "
                        f"Known: {', '.join(WRITABLE_FIELDS)}."
                    )
                for line, cells in rows:
                    if len(cells) > len(headers):
                        yield line, {"__extra__": cells[len(headers) :]}
                        continue
                    # A cell our own export escaped (=, +, -, @ first) reads back as written.
                    yield (
                        line,
                        {
                            name: csvfile.unescape_cell(value)
                            for name, value in zip(headers, cells, strict=False)
                            if name in WRITABLE_FIELDS
                        },
                    )
            except csvfile.CsvFileError as exc:
                raise CommandError(f"{exc} Nothing was imported.") from None

    def _count_rows(self, path: Path) -> int:
        return sum(1 for _ in self._rows(path))

    def _batches(
        self, path: Path, *, skip: set[int], size: int
    ) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        batch: list[tuple[int, dict[str, Any]]] = []
        for line, row in self._rows(path):
            if line in skip:
                continue
            batch.append((line, row))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    # --- the check ----------------------------------------------------------------------------

    def _check(self, path: Path, *, total: int, quiet: bool) -> tuple[dict[int, str], int]:
        """Every bad row by line number with why, and how many rows are good."""
        now = timezone.now()
        bad: dict[int, str] = {}
        first_line_of: dict[str, int] = {}
        campaign_lines: dict[int | str, list[int]] = defaultdict(list)
        owner_lines: dict[int | str, list[int]] = defaultdict(list)
        rows = 0
        blocked = erasure.erased_hashes()
        for line, raw in tqdm(
            self._rows(path), total=total, unit="rows", desc="checking", disable=quiet,
            file=self.stderr,
        ):  # fmt: skip
            rows += 1
            if "__extra__" in raw:
                bad[line] = "more cells than columns in the header"
                continue
            row = clean_lead_row(raw, index=0, now=now, blank_is_missing=True, allow_events=False)
            problems = [f"{name}: {' '.join(msgs)}" for name, msgs in row.errors.items()]
            if row.email and "email" not in row.errors and erasure.email_hash(row.email) in blocked:
                problems.append(f"email: {erasure.ERASED_EMAIL_MESSAGE}")
            if row.email and "email" not in row.errors:
                if row.email in first_line_of:
                    problems.append(
                        f"email: {row.email} is also on line {first_line_of[row.email]}"
                    )
                else:
                    first_line_of[row.email] = line
            if row.has_campaign and row.campaign_ref is not None:
                campaign_lines[row.campaign_ref].append(line)
            if row.has_owner and row.owner_ref is not None:
                owner_lines[row.owner_ref].append(line)
            if problems:
                bad[line] = "; ".join(problems)

        for ref, lines in self._unknown(campaign_lines, owner_lines):
            for line in lines:
                bad[line] = (bad[line] + "; " if line in bad else "") + ref
        return dict(sorted(bad.items())), rows - len(bad)

    def _unknown(
        self,
        campaign_lines: dict[int | str, list[int]],
        owner_lines: dict[int | str, list[int]],
    ) -> Iterator[tuple[str, list[int]]]:
        """Campaigns and owners the file names that do not exist: one query each."""
        refs = list(campaign_lines)
        ids = [r for r in refs if isinstance(r, int)]
        names = [r for r in refs if isinstance(r, str)]
        found: set[int | str] = set()
        for pk, name in Campaign.objects.filter(Q(pk__in=ids) | Q(name__in=names)).values_list(
            "pk", "name"
        ):
            found.update((pk, name))
        for ref in refs:
            if ref not in found:
                yield f'campaign: no campaign "{ref}"', campaign_lines[ref]
        refs = list(owner_lines)
        ids = [r for r in refs if isinstance(r, int)]
        names = [r for r in refs if isinstance(r, str)]
        found = set()
        users = get_user_model().objects.filter(Q(pk__in=ids) | Q(username__in=names))
        for pk, username in (
            users.filter(roles.marketer_q(), is_active=True)
            .values_list("pk", "username")
            .distinct()
        ):
            found.update((pk, username))
        for ref in refs:
            if ref not in found:
                yield f'owner: no active marketer "{ref}"', owner_lines[ref]

    def _report(self, bad: dict[int, str]) -> None:
        for line, why in list(bad.items())[:MAX_ERRORS_SHOWN]:
            self.stderr.write(f"line {line}: {why}")
        if len(bad) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"... and {len(bad) - MAX_ERRORS_SHOWN:,} more bad rows")
