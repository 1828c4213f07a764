"""Every write to leads: keyword-only functions, atomic, taking `now` where time matters."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Field, Q
from django.utils import timezone

from core import roles
from core.bulksql import insert_rows, select_for_update_in, update_rows
from core.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    RuleViolation,
    ValidationFailed,
)

# enqueue_task and publish_task are re-exported here, every caller's entry point: Celery tasks
# go through the outbox.
from core.outbox import enqueue_task as enqueue_task
from core.outbox import enqueue_task_for_relay as enqueue_task_for_relay
from core.outbox import enqueue_tasks_for_relay as enqueue_tasks_for_relay
from core.outbox import publish_task as publish_task
from leads import erasure, hooks, lifecycle, selectors
from leads.accounts import account_domain, account_id_for, account_ids_for_domains
from leads.derivation import derive_fields
from leads.history import CHANGED, CREATED, audited, history_rows_insert, tracked_columns
from leads.ingest import (
    FUTURE_TOLERANCE,
    CleanEvent,
    CleanRow,
    clean_event,
    clean_lead_row,
)
from leads.models import (
    HIGH_INTENT_KINDS,
    LEAD_WRITABLE_FIELDS,
    STAGE_REACHED_FIELD,
    Campaign,
    EngagementEvent,
    EngagementRule,
    EventKind,
    FitRule,
    IdempotencyRecord,
    Lead,
    LeadStageChange,
    PqlCriterion,
    ScoringConfig,
    Stage,
    UserProfile,
)
from leads.scoring import EventFact, ScoreResult, ScoringRules, score_lead

logger = logging.getLogger(__name__)

# Lifecycle moves a lead may make. Recycled and disqualified leads come back through marketing
# (re-promotion) or a manager's reopen.
LEAD_STAGE_MOVES: dict[str, frozenset[str]] = {
    Stage.LEAD: frozenset({Stage.MQL, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.MQL: frozenset({Stage.SAL, Stage.RECYCLED, Stage.DISQUALIFIED, Stage.LEAD}),
    Stage.SAL: frozenset({Stage.SQL, Stage.RECYCLED, Stage.DISQUALIFIED, Stage.MQL}),
    Stage.SQL: frozenset({Stage.OPPORTUNITY, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.OPPORTUNITY: frozenset({Stage.CUSTOMER, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.CUSTOMER: frozenset(),
    Stage.RECYCLED: frozenset({Stage.MQL, Stage.LEAD, Stage.DISQUALIFIED}),
    Stage.DISQUALIFIED: frozenset({Stage.LEAD}),
}

# Only a lead still with marketing can be "ready for sales"; once promoted, sales has it.
READY_STAGES = frozenset({Stage.LEAD, Stage.RECYCLED})

# A claimed Idempotency-Key whose request never finished (its worker died) is free again after
# this long; no bulk request runs anywhere near it.
IDEMPOTENCY_STALE_AFTER = dt.timedelta(minutes=10)

# Columns a client may write (LEAD_WRITABLE_FIELDS as attnames; the email is the row's key).
_ATTNAMES = {f.name: f.attname for f in Lead._meta.concrete_fields}
WRITABLE_COLUMNS = tuple(_ATTNAMES[name] for name in LEAD_WRITABLE_FIELDS if name != "email")
SCORE_COLUMNS = (
    "score",
    "score_breakdown",
    "scored_at",
    "ready_for_sales",
    "ready_since",
    "ready_reason",
    "pql",
    "pql_since",
    "pql_criteria",
    "last_engaged_at",
    "last_high_intent_at",
    "updated_at",
)
# (Generated columns are the database's to fill.)
LEAD_INSERT_COLUMNS = tuple(
    f.attname for f in Lead._meta.concrete_fields if not f.primary_key and not f.generated
)
EVENT_INSERT_COLUMNS = (
    "lead_id",
    "kind",
    "occurred_at",
    "payload",
    "is_high_intent",
    "external_id",
    "created_at",
)


def normalise_email(raw: str) -> str:
    return (raw or "").strip().lower()


def lead_change_stage(
    *,
    lead: Lead,
    to_stage: str,
    actor: Any = None,
    reason: str = "",
    now: dt.datetime | None = None,
    extra_fields: dict[str, Any] | None = None,
) -> LeadStageChange:
    """Move a lead to another lifecycle stage and record the change (who, when, from, to, why).

    Callers that are part of a larger transition (a handoff accept, a return) call this inside
    their own transaction, so the lead and the handoff move together or not at all.
    `extra_fields` are set on the lead in the same UPDATE (e.g. recycle_until).
    """
    now = now or timezone.now()
    from_stage = lead.stage
    if to_stage not in LEAD_STAGE_MOVES.get(from_stage, frozenset()):
        raise RuleViolation(
            f"A lead in stage {Stage(from_stage).label} cannot move to {Stage(to_stage).label}.",
            code="invalid_stage_change",
            field="stage",
        )
    # No savepoint: nothing here is caught and retried, and inside a caller's transition (every
    # accept and return) a savepoint was two more round trips on the busiest write path.
    with transaction.atomic(savepoint=False):
        fields: dict[str, Any] = {"stage": to_stage, "updated_at": now}
        if to_stage not in READY_STAGES:
            fields.update(ready_for_sales=False, ready_since=None, ready_reason="")
        fields.update(extra_fields or {})
        reached_field = STAGE_REACHED_FIELD.get(Stage(to_stage))
        if reached_field and getattr(lead, reached_field) is None:
            fields[reached_field] = now
        if to_stage == Stage.RECYCLED:
            # The latest return, not the first: new intent after it re-engages the lead.
            fields["recycled_at"] = now
        for name, value in fields.items():
            setattr(lead, name, value)
        Lead.objects.filter(pk=lead.pk).update(**fields)
        if to_stage in READY_STAGES:
            # Back with marketing: whether it is ready again depends on its score now.
            enqueue_task("leads.tasks.lead_rescore", lead_id=lead.pk)
        return LeadStageChange.objects.create(
            lead=lead, from_stage=from_stage, to_stage=to_stage, actor=actor, at=now, reason=reason
        )


def lead_move_stage(
    *,
    lead: Lead,
    to_stage: str,
    actor: Any = None,
    reason: str,
    now: dt.datetime,
    extra_fields: dict[str, Any] | None = None,
    count_return: bool = False,
    queue_rescore: bool = True,
) -> bool:
    """lead_change_stage for the transitions' hot path: lock the lead, move it and write its
    history row in ONE statement (three round trips and a full-row read before), and set what
    it wrote on `lead`. `count_return` adds one to return_count in the same UPDATE. A lead back
    with marketing is rescored by a task left to the outbox relay (`queue_rescore=False`: the
    caller queues it with its own tasks).

    Answers False, writing nothing, when the lead's current stage does not allow the move (or
    it is already there): the caller then takes the long way (lock, read, lead_change_stage),
    which says why. Call inside the caller's transaction.
    """
    from_stages = sorted(s for s, moves in LEAD_STAGE_MOVES.items() if to_stage in moves)
    if not from_stages or connection.vendor != "postgresql":
        return False
    table = connection.ops.quote_name(Lead._meta.db_table)
    history = connection.ops.quote_name(LeadStageChange._meta.db_table)
    sets: list[str] = ["stage = %s", "updated_at = %s"]
    params: list[Any] = [to_stage, now]
    if to_stage not in READY_STAGES:
        sets += ["ready_for_sales = false", "ready_since = NULL", "ready_reason = ''"]
    reached = STAGE_REACHED_FIELD.get(Stage(to_stage))
    if to_stage == Stage.RECYCLED:
        # The latest return, not the first: new intent after it re-engages the lead.
        sets.append("recycled_at = %s")
        params.append(now)
    elif reached:
        sets.append(f"{reached} = COALESCE(l.{reached}, %s)")
        params.append(now)
    for name, value in (extra_fields or {}).items():
        field_ = Lead._meta.get_field(name)
        assert isinstance(field_, Field)
        sets.append(f"{field_.column} = %s")
        params.append(field_.get_db_prep_save(value, connection))
    if count_return:
        sets.append("return_count = l.return_count + 1")
    returned = ["old.stage", "l.updated_at", "l.return_count"]
    if reached:
        returned.append(f"l.{reached}")
    sql = (
        f"WITH old AS (SELECT id, stage FROM {table} WHERE id = %s FOR UPDATE), "
        f"moved AS (UPDATE {table} l SET {', '.join(sets)} FROM old "
        f"WHERE l.id = old.id AND old.stage IN ({', '.join(['%s'] * len(from_stages))}) "
        f"RETURNING {', '.join(returned)}), "
        f"history AS (INSERT INTO {history} (lead_id, from_stage, to_stage, actor_id, at, reason) "
        "SELECT %s, stage, %s, %s, %s, %s FROM moved) "
        "SELECT * FROM moved"
    )
    actor_id = getattr(actor, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [lead.pk, *params, *from_stages, lead.pk, to_stage, actor_id, now, reason],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    lead.stage = to_stage
    lead.updated_at = row[1]
    lead.return_count = row[2]
    if to_stage not in READY_STAGES:
        lead.ready_for_sales, lead.ready_since, lead.ready_reason = False, None, ""
    if reached:
        setattr(lead, reached, row[3])
    for name, value in (extra_fields or {}).items():
        setattr(lead, name, value)
    if to_stage in READY_STAGES and queue_rescore:
        # Back with marketing: whether it is ready again depends on its score now.
        enqueue_task_for_relay("leads.tasks.lead_rescore", lead_id=lead.pk)
    return True


# --- scoring applied to leads --------------------------------------------------------------


def _score_fields(
    values: Any,
    result: ScoreResult,
    now: dt.datetime,
    *,
    facts: Sequence[lifecycle.ProductFact] = (),
    criteria: Sequence[lifecycle.Criterion] = (),
) -> dict[str, Any]:
    """The lead columns that follow from a score and the lead's product events (values: a Lead
    or a namespace of its fields): readiness by score, as a PQL, or re-engaged after a return."""
    qualified = lifecycle.qualify(
        values=values,
        facts=facts,
        criteria=criteria,
        over_threshold=result.over_threshold,
        now=now,
    )
    ready = bool(qualified["ready_reason"])
    since = (
        (values.ready_since if values.ready_for_sales and values.ready_since else now)
        if ready
        else None
    )
    return {
        "score": result.total,
        "score_breakdown": result.as_breakdown(),
        "scored_at": now,
        "ready_for_sales": ready,
        "ready_since": since,
        **qualified,
    }


def _notify_re_engaged(
    before: dict[int, str], after: Iterable[tuple[int, str]], *, now: dt.datetime
) -> None:
    """Tell the owners of leads that just became ready as re-engaged after a return: through
    the hooks (handoff's notification outbox, in this transaction), so a rolled-back rescore
    tells nobody, a failing mail server is retried, and the demo's history counts as sent."""
    lead_ids = [
        lead_id
        for lead_id, reason in after
        if reason == lifecycle.READY_RE_ENGAGED and before.get(lead_id) != reason
    ]
    hooks.leads_re_engaged(lead_ids=lead_ids, now=now)


def lead_rescore(
    *, lead: Lead, now: dt.datetime | None = None, rules: ScoringRules | None = None
) -> ScoreResult:
    """Score the lead from its stored events and the rules in force, and store the result."""
    now = now or timezone.now()
    rules = rules or selectors.scoring_rules()
    events = selectors.events_for_scoring(lead_ids=[lead.pk], rules=rules, now=now)
    result = score_lead(lead=lead, events=events.get(lead.pk, []), rules=rules, now=now)
    context = lifecycle.context_for([lead.pk], now)
    before = {lead.pk: lead.ready_reason}
    fields = {
        **_score_fields(
            lead, result, now, facts=context.facts.get(lead.pk, []), criteria=context.criteria
        ),
        "updated_at": now,
    }
    _notify_re_engaged(before, [(lead.pk, fields["ready_reason"])], now=now)
    for name, value in fields.items():
        setattr(lead, name, value)
    Lead.objects.filter(pk=lead.pk).update(**fields)
    return result


def leads_rescore_all(
    *, version: int | None = None, batch_size: int = 1000, now: dt.datetime | None = None
) -> int:
    """Rescore every lead in batches (after a rule change, and periodically because scores decay).

    Each batch is its own short transaction holding its rows' locks, so event arrivals wait at
    most one batch. Only leads whose score or readiness changed are written. When `version` is
    given and the rules changed again meanwhile, stop: the newer change queued its own run.
    Returns how many leads were written.
    """
    written = 0
    last_id = 0
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            rules = selectors.scoring_rules()
            if version is not None and rules.version != version:
                logger.info("rescore for v%s stopped: rules are now v%s", version, rules.version)
                return written
            batch = list(
                Lead.objects.select_for_update()
                .filter(pk__gt=last_id, erased_at__isnull=True)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return written
            last_id = batch[-1].pk
            events = selectors.events_for_scoring(
                lead_ids=[lead.pk for lead in batch], rules=rules, now=moment
            )
            context = lifecycle.context_for([lead.pk for lead in batch], moment)
            changed = []
            for lead in batch:
                result = score_lead(
                    lead=lead, events=events.get(lead.pk, []), rules=rules, now=moment
                )
                fields = _score_fields(
                    lead,
                    result,
                    moment,
                    facts=context.facts.get(lead.pk, []),
                    criteria=context.criteria,
                )
                old = lead.score_breakdown or {}
                same = (
                    lead.score == fields["score"]
                    and lead.ready_for_sales == fields["ready_for_sales"]
                    and lead.ready_reason == fields["ready_reason"]
                    and lead.pql_criteria == fields["pql_criteria"]
                    and old.get("version") == rules.version
                    and old.get("threshold") == rules.threshold
                    and old.get("items") == fields["score_breakdown"]["items"]
                )
                if not same:
                    changed.append(
                        {
                            "id": lead.pk,
                            **fields,
                            "last_engaged_at": lead.last_engaged_at,
                            "last_high_intent_at": lead.last_high_intent_at,
                            "updated_at": moment,
                        }
                    )
            update_rows(Lead, changed, columns=SCORE_COLUMNS)
            _notify_re_engaged(
                {lead.pk: lead.ready_reason for lead in batch},
                [(row["id"], row["ready_reason"]) for row in changed],
                now=moment,
            )
            written += len(changed)


# --- scoring rules -------------------------------------------------------------------------


def _check_can_edit_scoring(actor: Any) -> None:
    if actor is not None and not roles.can_edit_scoring(actor):
        raise Forbidden("Only marketing and sales managers can change the scoring rules.")


def scoring_rules_changed(*, actor: Any = None, now: dt.datetime | None = None) -> int:
    """Bump the rules' version and queue the batch rescore of every lead (after commit).

    Returns the new version. Called after any save or delete of a rule or of the settings.
    """
    _check_can_edit_scoring(actor)
    config = selectors.scoring_config()
    ScoringConfig.objects.filter(pk=config.pk).update(version=F("version") + 1)
    config.refresh_from_db(fields=["version"])
    enqueue_task("leads.tasks.leads_rescore_all", version=config.version)
    return config.version


def scoring_rule_save(
    *,
    rule: FitRule | EngagementRule | PqlCriterion | ScoringConfig,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> int:
    """Save a fit rule, an engagement rule or the scoring settings; returns the new version."""
    _check_can_edit_scoring(actor)
    with transaction.atomic():
        rule.full_clean()
        audited(rule, actor=actor).save()
        return scoring_rules_changed(actor=actor, now=now)


def scoring_rule_delete(
    *,
    rule: FitRule | EngagementRule | PqlCriterion,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> int:
    _check_can_edit_scoring(actor)
    with transaction.atomic():
        audited(rule, actor=actor).delete()
        return scoring_rules_changed(actor=actor, now=now)


def scoring_rules_install_defaults(*, now: dt.datetime | None = None) -> bool:
    """Give a fresh install the default rules (leads.scoring.DEFAULT_*), once: nothing happens
    when any rule exists. Returns whether it installed them."""
    from leads.scoring import DEFAULT_ENGAGEMENT_RULES, DEFAULT_FIT_RULES

    with transaction.atomic():
        selectors.scoring_config()
        if FitRule.objects.exists() or EngagementRule.objects.exists():
            return False
        FitRule.objects.bulk_create(
            FitRule(
                name=spec.name,
                field=spec.field,
                operator=spec.operator,
                value=spec.value,
                points=spec.points,
                order=i,
            )
            for i, spec in enumerate(DEFAULT_FIT_RULES)
        )
        EngagementRule.objects.bulk_create(
            EngagementRule(
                kind=spec.kind,
                points=spec.points,
                max_events=spec.max_events,
                intent_points=spec.intent_points,
                intent_window_days=spec.intent_window_days,
            )
            for spec in DEFAULT_ENGAGEMENT_RULES
        )
        scoring_rules_changed(now=now)
    return True


# --- owners -------------------------------------------------------------------------------


def owner_change_problem(
    *, actor: Any, current_owner_id: int | None, new_owner_id: int | None
) -> str | None:
    """Who may set a lead's owner (a marketer), or why not.

    Managers (and superusers) give any lead to any marketer. A marketer may take an unowned
    lead, create leads owned by themselves, or let go of their own lead; moving a lead to or
    from another marketer is a manager's call. System writes (actor None: imports, demo) may
    do anything.
    """
    if actor is None or new_owner_id == current_owner_id or roles.is_manager(actor):
        return None
    if roles.is_marketer(actor):
        if current_owner_id not in (None, actor.pk):
            return "This lead belongs to another marketer; only a sales manager can reassign it."
        if new_owner_id not in (None, actor.pk):
            return "Only a sales manager can give a lead to another marketer."
        return None
    return "Only marketing and sales managers can set a lead's owner."


def _check_owner(*, owner: Any) -> None:
    if owner is not None and not (owner.is_active and roles.is_marketer(owner)):
        raise ValidationFailed(
            "The owner must be an active marketer.", code="invalid_owner", field="owner"
        )


# --- single lead writes ---------------------------------------------------------------------


def _prepare_fields(lead: Lead, data: dict[str, Any], *, creating: bool) -> None:
    for name, value in data.items():
        setattr(lead, name, value.strip() if isinstance(value, str) else value)
    if creating or "email" in data:
        lead.email = normalise_email(lead.email)
    if lead.country:
        lead.country = lead.country.upper()
    if "email" in data and "domain" not in data and not creating:
        lead.domain = ""  # a new email brings its own domain
    values = {name: getattr(lead, name) for name in ("email", "title", "seniority", "domain")}
    derive_fields(values, given=set(data))
    lead.seniority, lead.domain = values["seniority"], values["domain"]


def lead_create(*, data: dict[str, Any], actor: Any = None, now: dt.datetime | None = None) -> Lead:
    """Create one lead from validated writable fields (campaign/owner as instances), scored."""
    now = now or timezone.now()
    lead = Lead()
    _prepare_fields(lead, data, creating=True)
    if not lead.email:
        raise ValidationFailed("An email is required.", code="required", field="email")
    _check_owner(owner=lead.owner)
    problem = owner_change_problem(actor=actor, current_owner_id=None, new_owner_id=lead.owner_id)
    if problem:
        raise Forbidden(problem, field="owner")
    rules = selectors.scoring_rules()
    result = score_lead(lead=lead, events=[], rules=rules, now=now)
    for name, value in _score_fields(lead, result, now).items():
        setattr(lead, name, value)
    try:
        with transaction.atomic():
            lead.account_id = account_id_for(lead.domain, lead.company)
            if erasure.is_erased(lead.email):
                raise ValidationFailed(
                    erasure.ERASED_EMAIL_MESSAGE, code="erased_email", field="email"
                )
            if Lead.objects.filter(email=lead.email).exists():
                raise ValidationFailed(
                    f"A lead with the email {lead.email} already exists.",
                    code="duplicate_email",
                    field="email",
                )
            audited(lead, actor=actor).save(force_insert=True)
    except IntegrityError as exc:
        raise Conflict(
            f"A lead with the email {lead.email} was created at the same moment.",
            code="duplicate_email",
            field="email",
        ) from exc
    return lead


def lead_update(
    *, lead: Lead, data: dict[str, Any], actor: Any = None, now: dt.datetime | None = None
) -> Lead:
    """Change writable fields of a lead (never its stage, score or timestamps) and rescore."""
    now = now or timezone.now()
    if lead.erased_at is not None:
        raise RuleViolation(
            "This lead's personal data was erased on request; it cannot be changed.",
            code="lead_erased",
        )
    new_email = normalise_email(data["email"]) if "email" in data else lead.email
    if new_email != lead.email and erasure.is_erased(new_email):
        raise ValidationFailed(erasure.ERASED_EMAIL_MESSAGE, code="erased_email", field="email")
    if new_email != lead.email and Lead.objects.filter(email=new_email).exists():
        raise ValidationFailed(
            "Another lead already has this email.", code="duplicate_email", field="email"
        )
    if "owner" in data:
        new_owner = data["owner"]
        _check_owner(owner=new_owner)
        problem = owner_change_problem(
            actor=actor,
            current_owner_id=lead.owner_id,
            new_owner_id=new_owner.pk if new_owner else None,
        )
        if problem:
            raise Forbidden(problem, field="owner")
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        _prepare_fields(locked, data, creating=False)
        locked.account_id = account_id_for(locked.domain, locked.company)
        locked.updated_at = now
        try:
            with transaction.atomic():
                audited(locked, actor=actor).save()
        except IntegrityError as exc:
            raise Conflict(
                "Another lead took this email at the same moment.",
                code="duplicate_email",
                field="email",
            ) from exc
        lead_rescore(lead=locked, now=now)
    return locked


def lead_upsert(
    *, data: dict[str, Any], actor: Any = None, now: dt.datetime | None = None
) -> tuple[Lead, bool]:
    """Create the lead, or update the one with the same normalised email: (lead, created)."""
    email = normalise_email(data.get("email", ""))
    existing = Lead.objects.filter(email=email).first()
    if existing is None:
        return lead_create(data=data, actor=actor, now=now), True
    rest = {k: v for k, v in data.items() if k != "email"}
    return lead_update(lead=existing, data=rest, actor=actor, now=now), False


# --- events -------------------------------------------------------------------------------


def event_record(
    *,
    lead: Lead,
    kind: str,
    occurred_at: dt.datetime,
    payload: dict[str, Any] | None = None,
    external_id: str = "",
    now: dt.datetime | None = None,
) -> EngagementEvent:
    """Record what a lead did, keep last_engaged_at / last_high_intent_at, and rescore the lead.

    An event whose external_id the lead already has is a replay: the stored one is returned and
    nothing changes.
    """
    now = now or timezone.now()
    if kind not in EventKind.values:
        raise ValidationFailed(f'"{kind}" is not a known event kind.', field="kind")
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=dt.UTC)
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed("The event is in the future.", field="occurred_at")
    with transaction.atomic():
        # One event at a time per lead, so two arrivals cannot both miss each other's event.
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.erased_at is not None:
            raise RuleViolation(
                "This lead's personal data was erased on request; it takes no new events.",
                code="lead_erased",
            )
        if external_id:
            replay = EngagementEvent.objects.filter(lead=locked, external_id=external_id).first()
            if replay is not None:
                return replay
        event = EngagementEvent.objects.create(
            lead=locked,
            kind=kind,
            occurred_at=occurred_at,
            payload=payload or {},
            is_high_intent=kind in HIGH_INTENT_KINDS,
            external_id=external_id,
        )
        engaged = _latest(locked.last_engaged_at, occurred_at)
        high = locked.last_high_intent_at
        if event.is_high_intent:
            high = _latest(high, occurred_at)
        Lead.objects.filter(pk=locked.pk).update(last_engaged_at=engaged, last_high_intent_at=high)
        locked.last_engaged_at, locked.last_high_intent_at = engaged, high
        lead_rescore(lead=locked, now=now)
        hooks.events_recorded(
            events=[hooks.RecordedEvent(locked.pk, kind, occurred_at, now)],
            now=now,
        )
    for name in ("last_engaged_at", "last_high_intent_at", *SCORE_COLUMNS):
        setattr(lead, name, getattr(locked, name))
    return event


def _recorded(event_rows: Sequence[dict[str, Any]]) -> list[hooks.RecordedEvent]:
    return [
        hooks.RecordedEvent(r["lead_id"], r["kind"], r["occurred_at"], r["created_at"])
        for r in event_rows
    ]


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


# --- bulk ---------------------------------------------------------------------------------


@dataclass
class BulkOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    failed: int = 0
    events: int = 0
    duplicates: int = 0

    def as_response(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "errors": self.failed,
            "events": self.events,
            "duplicate_events": self.duplicates,
            "results": self.results,
        }


def _resolve_references(rows: Sequence[CleanRow], actor: Any) -> None:
    """Campaigns and owners named by id or name: two queries for the whole batch."""
    camp_ids = {r.campaign_ref for r in rows if isinstance(r.campaign_ref, int)}
    camp_names = {r.campaign_ref for r in rows if isinstance(r.campaign_ref, str)}
    campaigns: dict[int | str, int] = {}
    if camp_ids or camp_names:
        for pk, name in Campaign.objects.filter(
            Q(pk__in=camp_ids) | Q(name__in=camp_names)
        ).values_list("pk", "name"):
            campaigns[pk] = pk
            campaigns[name] = pk
    user_ids = {r.owner_ref for r in rows if isinstance(r.owner_ref, int)}
    usernames = {r.owner_ref for r in rows if isinstance(r.owner_ref, str)}
    owners: dict[int | str, int] = {}
    if user_ids or usernames:
        for pk, username in (
            get_user_model()
            .objects.filter(Q(pk__in=user_ids) | Q(username__in=usernames))
            .filter(roles.marketer_q(), is_active=True)
            .values_list("pk", "username")
            .distinct()
        ):
            owners[pk] = pk
            owners[username] = pk
    for row in rows:
        if row.has_campaign:
            if row.campaign_ref is None:
                row.values["campaign_id"] = None
            elif row.campaign_ref in campaigns:
                row.values["campaign_id"] = campaigns[row.campaign_ref]
            else:
                row.error("campaign", f'No campaign "{row.campaign_ref}" (give an id or a name).')
        if row.has_owner:
            if row.owner_ref is None:
                row.values["owner_id"] = None
            elif row.owner_ref in owners:
                row.values["owner_id"] = owners[row.owner_ref]
            else:
                row.error("owner", f'No active marketer "{row.owner_ref}".')


def _flag_duplicate_emails(rows: Sequence[CleanRow]) -> None:
    positions: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.email and "email" not in row.errors:
            positions[row.email].append(row.index)
    for email, indexes in positions.items():
        if len(indexes) > 1:
            shown = ", ".join(str(i) for i in indexes)
            for i in indexes:
                rows[i].error(
                    "email",
                    f"{email} appears more than once in this batch (rows {shown}); "
                    "send each lead once.",
                )


def _lead_defaults() -> dict[str, Any]:
    return {
        f.attname: f.get_default()
        for f in Lead._meta.concrete_fields
        if not f.primary_key and not f.generated
    }


def leads_bulk_upsert(
    *,
    rows: Sequence[Any],
    actor: Any = None,
    now: dt.datetime | None = None,
    blank_is_missing: bool = False,
    allow_events: bool = True,
    keep_before: bool = False,
    history_reason: str | None = None,
) -> BulkOutcome:
    """Create or update up to a batch of leads by normalised email, with their events, scored
    on the way in. Rows with errors are answered as such and not written; the others are.

    The number of queries does not depend on the number of rows: rules (3), campaigns and
    owners (at most 2), the existing leads (locked), their events, their known external ids,
    one INSERT of new leads, one UPDATE of existing ones, one INSERT of events.
    `keep_before`: each updated row's answer holds the stored values of the fields the row
    wrote ("before").
    The audit trail gets one INSERT more: a "+" row per created lead and a "~" row per lead
    whose audited fields changed, with the actor and `history_reason` (an import's undo finds
    its rows by it).
    """
    now = now or timezone.now()
    clean = [
        clean_lead_row(
            raw, index=i, now=now, blank_is_missing=blank_is_missing, allow_events=allow_events
        )
        for i, raw in enumerate(rows)
    ]
    _flag_duplicate_emails(clean)
    _resolve_references([r for r in clean if not r.errors], actor)
    outcome = BulkOutcome()
    answers: dict[int, dict[str, Any]] = {}

    with transaction.atomic():
        good = sorted((r for r in clean if not r.errors), key=lambda r: r.email)
        rules = selectors.scoring_rules() if good else None
        # Locked in id order so that concurrent batches touching the same leads queue up
        # instead of deadlocking.
        existing = {
            lead.email: lead
            for lead in select_for_update_in(Lead, field="email", values=[r.email for r in good])
        }
        # Checked under the locks: an erasure that held one of these rows has committed its
        # blocklist entry by the time the lock is ours.
        erased = erasure.erased_among(r.email for r in good)
        for row in good:
            lead = existing.get(row.email)
            if row.email in erased:
                row.error("email", erasure.ERASED_EMAIL_MESSAGE)
                continue
            if "owner_id" in row.values:
                problem = owner_change_problem(
                    actor=actor,
                    current_owner_id=lead.owner_id if lead else None,
                    new_owner_id=row.values["owner_id"],
                )
                if problem:
                    row.error("owner", problem)
        good = [r for r in good if not r.errors]
        existing_ids = [existing[r.email].pk for r in good if r.email in existing]
        known_external: set[tuple[int, str]] = set()
        batch_external = {e.external_id for r in good for e in r.events if e.external_id}
        if existing_ids and batch_external:
            known_external = set(
                EngagementEvent.objects.filter(
                    lead_id__in=existing_ids, external_id__in=batch_external
                ).values_list("lead_id", "external_id")
            )
        stored_events = (
            selectors.events_for_scoring(lead_ids=existing_ids, rules=rules, now=now)
            if rules and existing_ids
            else {}
        )
        qualification = lifecycle.context_for(existing_ids, now)

        defaults = _lead_defaults()
        re_engaged: list[tuple[int, str, str]] = []
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        row_events: dict[str, list[CleanEvent]] = {}
        for row in good:
            lead = existing.get(row.email)
            events = _new_events(row, lead.pk if lead else None, known_external)
            row_events[row.email] = events
            if lead is not None:
                values = {name: getattr(lead, name) for name in LEAD_INSERT_COLUMNS}
            else:
                values = {**defaults, "email": row.email, "created_at": now}
            before = dict(values) if lead is not None and keep_before else None
            values.update(row.values)
            derive_fields(values, given=set(row.values))
            for event in events:
                values["last_engaged_at"] = _latest(values["last_engaged_at"], event.occurred_at)
                if event.kind in HIGH_INTENT_KINDS:
                    values["last_high_intent_at"] = _latest(
                        values["last_high_intent_at"], event.occurred_at
                    )
            facts: list[EventFact] = list(stored_events.get(lead.pk, [])) if lead else []
            facts.extend(EventFact(e.kind, e.occurred_at) for e in events)
            assert rules is not None
            view = SimpleNamespace(**values)
            result = score_lead(lead=view, events=facts, rules=rules, now=now)
            product = list(qualification.facts.get(lead.pk, [])) if lead else []
            if qualification.criteria:
                for e in events:
                    fact = lifecycle.fact_of(e.kind, e.occurred_at, e.payload)
                    if fact is not None:
                        product.append(fact)
            values.update(
                _score_fields(view, result, now, facts=product, criteria=qualification.criteria)
            )
            if lead is not None:
                re_engaged.append((lead.pk, lead.ready_reason, values["ready_reason"]))
            values["updated_at"] = now
            answer = {
                "row": row.index,
                "status": "updated" if lead else "created",
                "id": lead.pk if lead else None,
                "email": row.email,
                "score": result.total,
                "ready_for_sales": values["ready_for_sales"],
                "events": len(events),
            }
            if before is not None:
                answer["before"] = {
                    name: before[name]
                    for name in LEAD_INSERT_COLUMNS
                    if name in WRITABLE_COLUMNS and values[name] != before[name]
                }
            answers[row.index] = answer
            if lead is not None:
                updates.append({"id": lead.pk, **values})
            else:
                inserts.append(values)

        _match_accounts([*inserts, *updates])
        inserted = dict(
            (email, pk)
            for pk, email in insert_rows(
                Lead, inserts, columns=LEAD_INSERT_COLUMNS, returning=("id", "email")
            )
        )
        if len(inserted) != len(inserts):
            # Another request inserted some of these emails between our SELECT and INSERT.
            raise Conflict(
                "Another request created some of these leads at the same moment; "
                "send the batch again (it will update them).",
                code="concurrent_upsert",
            )
        update_rows(Lead, updates, columns=(*WRITABLE_COLUMNS, *SCORE_COLUMNS, "account_id"))
        # The audit rows, in one INSERT: each created lead, and each updated one whose audited
        # fields changed (new events and a new score are not edits).
        audited_columns = tracked_columns(Lead)
        history_rows_insert(
            Lead,
            [
                *({**values, "id": inserted[values["email"]]} for values in inserts),
                *(
                    {**values, "history_type": CHANGED}
                    for values in updates
                    if any(
                        values[c] != getattr(existing[values["email"]], c) for c in audited_columns
                    )
                ),
            ],
            history_type=CREATED,
            actor=actor,
            at=now,
            reason=history_reason,
        )

        event_rows: list[dict[str, Any]] = []
        for row in good:
            answer = answers[row.index]
            if answer["id"] is None:
                answer["id"] = inserted[row.email]
            for event in row_events[row.email]:
                event_rows.append(
                    {
                        "lead_id": answer["id"],
                        "kind": event.kind,
                        "occurred_at": event.occurred_at,
                        "payload": event.payload,
                        "is_high_intent": event.kind in HIGH_INTENT_KINDS,
                        "external_id": event.external_id,
                        "created_at": now,
                    }
                )
        insert_rows(EngagementEvent, event_rows, columns=EVENT_INSERT_COLUMNS)
        hooks.events_recorded(events=_recorded(event_rows), now=now)
        _notify_re_engaged(
            {pk: before for pk, before, _ in re_engaged},
            [(pk, after) for pk, _, after in re_engaged],
            now=now,
        )

    for row in clean:
        if row.errors:
            outcome.failed += 1
            outcome.results.append(
                {"row": row.index, "status": "error", "email": row.email, "errors": row.errors}
            )
        else:
            answer = answers[row.index]
            if answer["status"] == "created":
                outcome.created += 1
            else:
                outcome.updated += 1
            outcome.events += answer["events"]
            outcome.results.append(answer)
    return outcome


def _match_accounts(rows: list[dict[str, Any]]) -> None:
    """Set each row's account_id from its domain: two queries for the whole batch."""
    keys = [account_domain(values["domain"]) for values in rows]
    names: dict[str, str] = {}
    for key, values in zip(keys, rows, strict=True):
        if key and not names.get(key):
            names[key] = values.get("company") or ""
    ids = account_ids_for_domains(names)
    for key, values in zip(keys, rows, strict=True):
        values["account_id"] = ids.get(key) if key else None


def _new_events(
    row: CleanRow, lead_id: int | None, known_external: set[tuple[int, str]]
) -> list[CleanEvent]:
    """The row's events minus replays (an external_id the lead already has, or repeated)."""
    seen: set[str] = set()
    kept = []
    for event in row.events:
        if event.external_id:
            if event.external_id in seen or (lead_id, event.external_id) in known_external:
                continue
            seen.add(event.external_id)
        kept.append(event)
    return kept


def events_bulk_record(
    *, rows: Sequence[Any], actor: Any = None, now: dt.datetime | None = None
) -> BulkOutcome:
    """Record up to a batch of events for leads named by `lead_id` or `email`, then rescore the
    leads they touched. A constant number of queries: the leads (locked), their known external
    ids, one INSERT, their events for scoring, one UPDATE."""
    now = now or timezone.now()
    parsed: list[tuple[int, Any, CleanEvent | None, dict[str, list[str]]]] = []
    ids: set[int] = set()
    emails: set[str] = set()
    for i, raw in enumerate(rows):
        checked = clean_event(raw, now=now)
        errors: dict[str, list[str]] = {}
        event: CleanEvent | None = None
        if isinstance(checked, dict):
            errors = checked
        else:
            event = checked
        ref: Any = None
        if isinstance(raw, dict):
            lead_id, email = raw.get("lead_id"), raw.get("email")
            if isinstance(lead_id, int) and not isinstance(lead_id, bool):
                ref = lead_id
                ids.add(lead_id)
            elif isinstance(email, str) and email.strip():
                ref = normalise_email(email)
                emails.add(ref)
            else:
                errors["lead_id"] = ["Give the lead's id (lead_id) or its email."]
        parsed.append((i, ref, event, errors))

    outcome = BulkOutcome()
    with transaction.atomic():
        leads_by_ref: dict[Any, Lead] = {}
        if ids or emails:
            for lead in (
                Lead.objects.select_for_update()
                .filter(Q(pk__in=ids) | Q(email__in=emails))
                .order_by("pk")
            ):
                leads_by_ref[lead.pk] = lead
                leads_by_ref[lead.email] = lead
        external = {e.external_id for _, _, e, _ in parsed if e and e.external_id}
        known: set[tuple[int, str]] = set()
        if external and leads_by_ref:
            known = set(
                EngagementEvent.objects.filter(
                    lead_id__in={lead.pk for lead in leads_by_ref.values()},
                    external_id__in=external,
                ).values_list("lead_id", "external_id")
            )
        event_rows: list[dict[str, Any]] = []
        touched: dict[int, Lead] = {}
        for i, ref, row_event, errors in parsed:
            found = leads_by_ref.get(ref) if ref is not None else None
            if ref is not None and found is None:
                name = "lead_id" if isinstance(ref, int) else "email"
                errors[name] = [f"No lead {ref}."]
            if found is not None and found.erased_at is not None:
                errors["lead_id" if isinstance(ref, int) else "email"] = [
                    "This lead's personal data was erased on request; it takes no new events."
                ]
            if errors or row_event is None or found is None:
                outcome.failed += 1
                outcome.results.append({"row": i, "status": "error", "errors": errors})
                continue
            lead, event = found, row_event
            if event.external_id and (lead.pk, event.external_id) in known:
                outcome.duplicates += 1
                outcome.results.append({"row": i, "status": "duplicate", "lead_id": lead.pk})
                continue
            if event.external_id:
                known.add((lead.pk, event.external_id))
            event_rows.append(
                {
                    "lead_id": lead.pk,
                    "kind": event.kind,
                    "occurred_at": event.occurred_at,
                    "payload": event.payload,
                    "is_high_intent": event.kind in HIGH_INTENT_KINDS,
                    "external_id": event.external_id,
                    "created_at": now,
                }
            )
            lead.last_engaged_at = _latest(lead.last_engaged_at, event.occurred_at)
            if event.kind in HIGH_INTENT_KINDS:
                lead.last_high_intent_at = _latest(lead.last_high_intent_at, event.occurred_at)
            touched[lead.pk] = lead
            outcome.events += 1
            outcome.results.append({"row": i, "status": "recorded", "lead_id": lead.pk})
        insert_rows(EngagementEvent, event_rows, columns=EVENT_INSERT_COLUMNS)
        if touched:
            leads_rescore(leads=list(touched.values()), now=now)
        hooks.events_recorded(events=_recorded(event_rows), now=now)
    return outcome


def leads_rescore(*, leads: Iterable[Lead], now: dt.datetime | None = None) -> None:
    """Rescore leads (locked by the caller) from their stored events, in one UPDATE."""
    now = now or timezone.now()
    batch = list(leads)
    rules = selectors.scoring_rules()
    events = selectors.events_for_scoring(lead_ids=[x.pk for x in batch], rules=rules, now=now)
    context = lifecycle.context_for([x.pk for x in batch], now)
    rows = []
    for lead in batch:
        result = score_lead(lead=lead, events=events.get(lead.pk, []), rules=rules, now=now)
        fields = _score_fields(
            lead, result, now, facts=context.facts.get(lead.pk, []), criteria=context.criteria
        )
        rows.append(
            {
                "id": lead.pk,
                **fields,
                "last_engaged_at": lead.last_engaged_at,
                "last_high_intent_at": lead.last_high_intent_at,
                "updated_at": now,
            }
        )
    update_rows(Lead, rows, columns=SCORE_COLUMNS)
    _notify_re_engaged(
        {lead.pk: lead.ready_reason for lead in batch},
        [(row["id"], row["ready_reason"]) for row in rows],
        now=now,
    )


# --- idempotency --------------------------------------------------------------------------


def idempotency_claim(
    *,
    user: Any,
    scope: str,
    key: str,
    request_hash: str,
    now: dt.datetime | None = None,
) -> tuple[IdempotencyRecord, bool]:
    """Claim an Idempotency-Key for a request: (record, replay).

    replay False: the key is ours, in flight, committed at once (call outside a transaction) so
    that a duplicate arriving meanwhile sees it. replay True: the record holds the first answer.
    Raises IdempotencyKeyReused (422) for the same key with another body, Conflict (409) while
    the first request with this key is still running.
    """
    now = now or timezone.now()
    if not key or len(key) > 255:
        raise ValidationFailed(
            "The Idempotency-Key header must be 1 to 255 characters.",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    ttl = dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user,
                    scope=scope,
                    key=key,
                    request_hash=request_hash,
                    created_at=now,
                    expires_at=now + ttl,
                )
            return record, False
        except IntegrityError:
            pass
        found = IdempotencyRecord.objects.filter(user=user, scope=scope, key=key).first()
        if found is None:
            continue  # expired and purged between our two statements: claim again
        stale = found.state == IdempotencyRecord.State.IN_FLIGHT and (
            found.created_at <= now - IDEMPOTENCY_STALE_AFTER
        )
        if found.expires_at <= now or stale:
            # Conditional on the row we read, so two claimers cannot both delete a fresh claim.
            IdempotencyRecord.objects.filter(pk=found.pk, created_at=found.created_at).delete()
            continue
        if found.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a new request.",
                field="Idempotency-Key",
            )
        if found.state == IdempotencyRecord.State.IN_FLIGHT:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; "
                "retry in a moment to get its answer.",
                code="idempotency_in_flight",
                field="Idempotency-Key",
            )
        return found, True
    raise Conflict("Could not claim the Idempotency-Key; retry.", code="idempotency_in_flight")


def idempotency_complete(
    *, record: IdempotencyRecord, status: int, body: str, now: dt.datetime | None = None
) -> None:
    """Store the first answer; call inside the transaction that did the work."""
    now = now or timezone.now()
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE,
        response_status=status,
        response_body=body,
        completed_at=now,
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """The work failed (nothing written): free the key so the client can retry with it."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def idempotency_purge(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now).delete()
    return deleted


# --- a person's time zone -----------------------------------------------------------------------


def user_time_zone_set(*, user: Any, time_zone: str, actor: Any = None) -> UserProfile:
    """Set the zone every time is shown to `user` in ("" for automatic: their team calendar's
    zone). Anyone sets their own; a sales manager (or superuser) sets anyone's. An unknown zone
    is a 400 naming `time_zone`, and nothing is written."""
    actor = actor if actor is not None else user
    if actor.pk != user.pk and not (roles.is_manager(actor) or actor.is_superuser):
        raise Forbidden("Only a sales manager sets another person's time zone.")
    name = (time_zone or "").strip()
    if name and name not in zoneinfo.available_timezones():
        raise ValidationFailed(
            f"“{name[:64]}” is not a time zone (e.g. Europe/Paris, America/New_York).",
            field="time_zone",
        )
    with transaction.atomic():
        profile = UserProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            profile = UserProfile(user=user)
        elif profile.time_zone == name:
            return profile
        profile.time_zone = name
        try:
            with transaction.atomic():
                audited(profile, actor=actor).save()
        except IntegrityError as exc:
            raise Conflict(
                "This person's time zone was set at the same moment; try again.",
                code="concurrent_time_zone",
            ) from exc
    return profile


# --- lifecycle notifications ----------------------------------------------------------------


def lead_re_engaged_notify(*, lead_id: int, now: dt.datetime | None = None) -> bool:
    """Tell a re-engaged lead's owner through the hooks (the notification outbox), if the lead
    is still re-engaged. Rescoring does this itself; this serves `leads.tasks.
    lead_re_engaged_notify` messages queued before re-engagement went through the outbox."""
    lead = Lead.objects.filter(pk=lead_id).only("ready_reason").first()
    if lead is None or lead.ready_reason != lifecycle.READY_RE_ENGAGED:
        return False
    with transaction.atomic():
        hooks.leads_re_engaged(lead_ids=[lead_id], now=now or timezone.now())
    return True
