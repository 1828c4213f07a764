"""`manage.py sla_sweep`: run the SLA sweep once (or `--loop`), as beat does, and say what it
flagged. For operators: after an outage, or to check a deployment without a worker."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from handoff.notifications import notifications_send
from handoff.sweep import SweepResult, sla_sweep


class Command(BaseCommand):
    help = "Flag at-risk and breached handoffs now, escalate breaches, and queue notifications."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Keep sweeping every SLA_SWEEP_INTERVAL_SECONDS until interrupted.",
        )
        parser.add_argument(
            "--interval", type=float, default=None, help="Seconds between sweeps with --loop."
        )
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--send",
            action="store_true",
            help="Also send due notifications from this process (no worker needed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] or settings.SLA_SWEEP_INTERVAL_SECONDS
        try:
            while True:
                result = sla_sweep(batch_size=options["batch_size"])
                self._report(result)
                if options["send"]:
                    sent = notifications_send()
                    self.stdout.write(
                        f"notifications: {len(sent.sent)} sent, {len(sent.failed)} failed, "
                        f"{len(sent.gave_up)} given up"
                    )
                if not options["loop"]:
                    return
                close_old_connections()
                time.sleep(interval)
        except KeyboardInterrupt:
            return

    def _report(self, result: SweepResult) -> None:
        stamp = result.now.strftime("%Y-%m-%d %H:%M:%S UTC")
        if not result.ran:
            self.stdout.write(f"{stamp} another sweep is running; nothing done")
            return
        self.stdout.write(
            f"{stamp} breached {len(result.breached)}, at risk {len(result.at_risk)}, "
            f"first touch overdue {len(result.first_touch_breached)}, first touch at risk "
            f"{len(result.first_touch_at_risk)}, reassigned {len(result.reassigned)}, "
            f"escalated {len(result.escalated)}, notifications {result.notifications} "
            f"({result.seconds * 1000:.0f} ms)"
        )
        for label, ids in (
            ("breached", result.breached),
            ("at risk", result.at_risk),
            ("first touch overdue", result.first_touch_breached),
            ("first touch at risk", result.first_touch_at_risk),
            ("escalated to the manager's queue", result.escalated),
        ):
            if ids:
                shown = ", ".join(f"#{pk}" for pk in ids[:50])
                more = f" and {len(ids) - 50} more" if len(ids) > 50 else ""
                self.stdout.write(f"  {label}: {shown}{more}")
        for old, new in result.reassigned[:50]:
            self.stdout.write(f"  reassigned: #{old} -> #{new}")
