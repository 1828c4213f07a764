"""A lead's own writes: create, update or upsert one lead, who may set its owner, and moves
between lifecycle stages (each recorded in the stage history)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from core import roles
from core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from core.outbox import enqueue_task, enqueue_task_for_relay
from core.types import Actor
from leads import erasure, selectors
from leads.accounts import account_id_for
from leads.derivation import derive_fields
from leads.history import audited
from leads.models import STAGE_REACHED_FIELD, Lead, LeadStageChange, Stage
from leads.scoring import score_lead
from leads.services.scoring import lead_rescore, score_fields

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


def normalise_email(raw: str) -> str:
    return (raw or "").strip().lower()


# --- stage moves --------------------------------------------------------------------------


def lead_change_stage(
    *,
    lead: Lead,
    to_stage: str,
    actor: Actor | None = None,
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
    actor: Actor | None = None,
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


# --- owners -------------------------------------------------------------------------------


def owner_change_problem(
    *, actor: Actor | None, current_owner_id: int | None, new_owner_id: int | None
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


def lead_create(
    *, data: dict[str, Any], actor: Actor | None = None, now: dt.datetime | None = None
) -> Lead:
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
    for name, value in score_fields(lead, result, now).items():
        setattr(lead, name, value)
    try:
        with transaction.atomic():
            lead.account_id = account_id_for(lead.domain, lead.company)
            erased, taken = erasure.erased_or_taken(lead.email)
            if erased:
                raise ValidationFailed(
                    erasure.ERASED_EMAIL_MESSAGE, code="erased_email", field="email"
                )
            if taken:
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
    *, lead: Lead, data: dict[str, Any], actor: Actor | None = None, now: dt.datetime | None = None
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
    *, data: dict[str, Any], actor: Actor | None = None, now: dt.datetime | None = None
) -> tuple[Lead, bool]:
    """Create the lead, or update the one with the same normalised email: (lead, created)."""
    email = normalise_email(data.get("email", ""))
    existing = Lead.objects.filter(email=email).first()
    if existing is None:
        return lead_create(data=data, actor=actor, now=now), True
    rest = {k: v for k, v in data.items() if k != "email"}
    return lead_update(lead=existing, data=rest, actor=actor, now=now), False
