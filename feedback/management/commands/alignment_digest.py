"""Build the weekly alignment digest and send it (or, with --dry-run, print it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.errors import ValidationFailed
from feedback import digest
from handoff import timezones


class Command(BaseCommand):
    help = "Send the alignment digest of an ISO week (default: last week) to marketing and the sales managers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--week", help="ISO week, YYYY-Www (default: last week).")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the digest and its recipients; send nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.now().astimezone(digest.digest_zone()).date()
        try:
            week = digest.parse_week(options.get("week"), today=today)
        except ValidationFailed as exc:
            raise CommandError(f"--week: {exc.message}") from exc
        if options["dry_run"]:
            subject, text, _html = digest.digest_render(digest.digest_build(week))
            people = digest.digest_recipients()
            zones = timezones.zone_names_for(u.pk for u in people)
            # Beat sends each of them on Monday morning in the zone shown.
            recipients = [f"{u.email} ({zones[u.pk]})" for u in people]
            self.stdout.write(f"{subject}\nTo: {', '.join(recipients) or 'nobody'}\n\n{text}")
            return
        result = digest.digest_send(week=week)
        self.stdout.write(
            f"Digest {week.label}: {result['sent']} sent, {result['failed']} failed (retried "
            f"later), {result['skipped']} taken by another worker."
        )
