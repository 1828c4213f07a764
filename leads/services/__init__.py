"""Every write to leads: keyword-only functions, atomic, taking `now` where time matters.

One job per module; callers import the names from here (`from leads.services import ...`):

- `lifecycle`: create, update or upsert one lead, who may set its owner, stage moves;
- `scoring`: rescoring one lead, a locked batch or all of them, and the scoring rules' writes;
- `events`: recording one engagement event;
- `bulk`: the bulk upsert of leads and the bulk record of events (`bulk_rows`: the lead rows'
  checks and plan);
- `idempotency`: Idempotency-Key claims and their stored answers;
- `profiles`: a person's time zone.

Celery tasks go through the outbox: `enqueue_task` and `publish_task` are re-exported here,
every caller's entry point.
"""

from core.outbox import enqueue_task, enqueue_task_for_relay, enqueue_tasks_for_relay, publish_task
from leads.services.bulk import BulkOutcome, events_bulk_record, leads_bulk_upsert
from leads.services.bulk_rows import LEAD_INSERT_COLUMNS, WRITABLE_COLUMNS
from leads.services.bulk_rows import lead_defaults as _lead_defaults
from leads.services.events import EVENT_INSERT_COLUMNS, event_record
from leads.services.idempotency import (
    IDEMPOTENCY_STALE_AFTER,
    idempotency_claim,
    idempotency_complete,
    idempotency_purge,
    idempotency_release,
)
from leads.services.lifecycle import (
    LEAD_STAGE_MOVES,
    READY_STAGES,
    lead_change_stage,
    lead_create,
    lead_move_stage,
    lead_update,
    lead_upsert,
    normalise_email,
    owner_change_problem,
)
from leads.services.profiles import user_time_zone_set
from leads.services.scoring import (
    SCORE_COLUMNS,
    lead_re_engaged_notify,
    lead_rescore,
    leads_rescore,
    leads_rescore_all,
    scoring_rule_delete,
    scoring_rule_save,
    scoring_rules_changed,
    scoring_rules_install_defaults,
)

__all__ = [
    "EVENT_INSERT_COLUMNS",
    "IDEMPOTENCY_STALE_AFTER",
    "LEAD_INSERT_COLUMNS",
    "LEAD_STAGE_MOVES",
    "READY_STAGES",
    "SCORE_COLUMNS",
    "WRITABLE_COLUMNS",
    "BulkOutcome",
    "_lead_defaults",
    "enqueue_task",
    "enqueue_task_for_relay",
    "enqueue_tasks_for_relay",
    "event_record",
    "events_bulk_record",
    "idempotency_claim",
    "idempotency_complete",
    "idempotency_purge",
    "idempotency_release",
    "lead_change_stage",
    "lead_create",
    "lead_move_stage",
    "lead_re_engaged_notify",
    "lead_rescore",
    "lead_update",
    "lead_upsert",
    "leads_bulk_upsert",
    "leads_rescore",
    "leads_rescore_all",
    "normalise_email",
    "owner_change_problem",
    "publish_task",
    "scoring_rule_delete",
    "scoring_rule_save",
    "scoring_rules_changed",
    "scoring_rules_install_defaults",
    "user_time_zone_set",
]
