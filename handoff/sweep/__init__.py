"""The SLA sweep: flags at-risk and breached handoffs, escalates breaches, writes the outbox.

- `ladder.py`: the rungs (steps) and what the sweep decides for a flagged handoff (who is told,
  reassign or escalate), in Python: the reference, and the whole of it on SQLite;
- `sql.py`: the set-based statements (on PostgreSQL one per batch: claim, flag, events and the
  outbox rows the statement can decide);
- `render.py`: the outbox's words compiled to SQL from their Python sources (templates, times
  in each recipient's zone, the late words), for `sql.py`;
- `runner.py`: the advisory lock, the batch loop, `sla_sweep` (the task's and the command's
  entry);
- `rows.py`: a flagged handoff as the sweep reads it (`Due`);
- `lateness.py`: how late an answer is or was (`late_by`, `handoff_late_by`).
"""

from handoff.sweep.ladder import LATE_NOTE_AFTER, STEPS, WEBHOOK_TYPES, Step, SweepResult
from handoff.sweep.lateness import LateBy, handoff_first_touch_late_by, handoff_late_by, late_by
from handoff.sweep.runner import ADVISORY_LOCK_KEY, sla_sweep

__all__ = [
    "ADVISORY_LOCK_KEY",
    "LATE_NOTE_AFTER",
    "STEPS",
    "WEBHOOK_TYPES",
    "LateBy",
    "Step",
    "SweepResult",
    "handoff_first_touch_late_by",
    "handoff_late_by",
    "late_by",
    "sla_sweep",
]
