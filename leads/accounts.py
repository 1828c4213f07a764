"""Accounts: the company a lead belongs to, matched by its company domain.

Every way a lead comes in (the API, a bulk batch, a CSV import, the admin) goes through
`leads.services`, which asks `account_ids_for_domains` for the batch's domains at once: the
accounts that exist are read in one query, the missing ones inserted in one more (a conflict
with a concurrent insert of the same domain is skipped, then read back), so matching costs two
queries per batch whatever its size. Free-mail domains and empty domains match nothing; a
company name without a domain matches nothing either (names are too ambiguous to group by).

A merged duplicate keeps its row, pointing at the account it was merged into: its domain is then
an alias, and leads arriving with it join the surviving account.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Count, Min, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce, Lower, Substr
from django.utils import timezone

from core.bulksql import insert_rows, values_in
from core.errors import Forbidden, RuleViolation, ValidationFailed
from core.roles import is_manager, is_marketer, is_rep
from leads.models import Account, Lead
from leads.scoring import FREE_MAIL_DOMAINS
from leads.selectors import leads_visible_to


def account_domain(domain: str | None) -> str:
    """The account key of a company domain: lower-cased, no `www.`, no trailing dot; "" for a
    free-mail or empty domain (those never match an account)."""
    value = (domain or "").strip().lower().rstrip(".")
    if value.startswith("www."):
        value = value[4:]
    if not value or "." not in value or value in FREE_MAIL_DOMAINS:
        return ""
    return value


def account_ids_for_domains(names_by_domain: dict[str, str]) -> dict[str, int]:
    """Account id per (already normalised, non-empty) domain, creating the missing accounts;
    `names_by_domain` gives a new account its name (the first lead's company)."""
    if not names_by_domain:
        return {}
    found = _existing(names_by_domain)
    # Sorted: two batches inserting the same new domains take the index locks in one order.
    missing = sorted(d for d in names_by_domain if d not in found)
    if missing:
        now = timezone.now()
        # One INSERT ... ON CONFLICT DO NOTHING RETURNING: a domain another batch inserted
        # meanwhile comes back from the second read below.
        inserted = insert_rows(
            Account,
            [
                {"domain": d, "name": names_by_domain[d] or d, "created_at": now, "updated_at": now}
                for d in missing
            ],
            columns=("domain", "name", "created_at", "updated_at"),
            returning=("domain", "id"),
        )
        found.update({domain: pk for domain, pk in inserted})
        lost = [d for d in missing if d not in found]
        if lost:
            found.update(_existing(lost))
    return found


def _existing(domains: Iterable[str]) -> dict[str, int]:
    rows = values_in(
        Account, columns=["domain", "id", "merged_into_id"], field="domain", values=list(domains)
    )
    return {domain: merged or pk for domain, pk, merged in rows}


def account_id_for(domain: str | None, company: str = "") -> int | None:
    key = account_domain(domain)
    if not key:
        return None
    return account_ids_for_domains({key: company}).get(key)


# --- backfill ----------------------------------------------------------------------------------


def _sql_account_domain() -> Any:
    """account_domain() as a database expression over Lead.domain (already lower-cased)."""
    return Case(
        When(domain__startswith="www.", then=Substr(Lower("domain"), 5)),
        default=Lower("domain"),
    )


def accounts_backfill(*, batch: int = 50_000) -> dict[str, int]:
    """Match every lead without an account, in bulk: one INSERT of the missing accounts (named
    after a company of their leads), then UPDATEs joining leads to accounts by domain, by id
    range so that no single statement holds every row lock. Returns counts."""
    if connection.vendor == "postgresql":
        return _backfill_postgresql(batch)
    return _backfill_portable(batch)


# The account key of leads_lead.domain (stored lower-cased already), in SQL.
_SQL_KEY = "CASE WHEN {t}domain LIKE 'www.%%' THEN substr({t}domain, 5) ELSE {t}domain END"


def _backfill_postgresql(batch: int) -> dict[str, int]:
    now = timezone.now()
    free = sorted(FREE_MAIL_DOMAINS)
    key, lead_key = _SQL_KEY.format(t=""), _SQL_KEY.format(t="l.")
    with connection.cursor() as cursor:
        with transaction.atomic():
            cursor.execute(
                f"""
                INSERT INTO leads_account (domain, name, created_at, updated_at)
                SELECT key, COALESCE(min(NULLIF(company, '')), key), %s, %s
                FROM (SELECT {key} AS key, company FROM leads_lead
                      WHERE account_id IS NULL AND domain <> '') AS pending
                WHERE key <> ALL(%s) AND key LIKE '%%.%%'
                GROUP BY key
                ON CONFLICT (domain) DO NOTHING
                """,
                [now, now, free],
            )
            created = cursor.rowcount
        cursor.execute("SELECT min(id), max(id) FROM leads_lead WHERE account_id IS NULL")
        low, high = cursor.fetchone()
        matched = 0
        while low is not None and low <= high:
            with transaction.atomic():
                cursor.execute(
                    f"""
                    UPDATE leads_lead AS l SET account_id = COALESCE(a.merged_into_id, a.id)
                    FROM leads_account AS a
                    WHERE l.id BETWEEN %s AND %s AND l.account_id IS NULL
                      AND l.domain <> '' AND a.domain = {lead_key}
                    """,
                    [low, low + batch - 1],
                )
                matched += cursor.rowcount
            low += batch
    return {"accounts_created": created, "leads_matched": matched}


def _backfill_portable(batch: int) -> dict[str, int]:
    key = _sql_account_domain()
    pending = (
        Lead.objects.filter(account__isnull=True)
        .exclude(domain="")
        .annotate(key=key)
        .exclude(key__in=list(FREE_MAIL_DOMAINS))
        .filter(key__contains=".")
    )
    now = timezone.now()
    accounts_before = Account.objects.count()
    with transaction.atomic():
        names = pending.order_by().values("key").annotate(name=Min("company"))
        Account.objects.bulk_create(
            [
                Account(domain=row["key"], name=row["name"] or row["key"], created_at=now,
                        updated_at=now)
                for row in names.iterator(chunk_size=5000)
            ],
            ignore_conflicts=True,
            batch_size=5000,
        )  # fmt: skip
    target = Subquery(
        Account.objects.filter(domain=OuterRef("key"))
        .annotate(to=Coalesce("merged_into_id", "id"))
        .values("to")[:1]
    )
    matched = 0
    low = pending.order_by().aggregate(low=Min("id"))["low"]
    while low is not None:
        with transaction.atomic():
            ids = list(
                pending.filter(id__gte=low).order_by("id").values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            matched += pending.filter(id__gte=ids[0], id__lte=ids[-1]).update(account_id=target)
            low = ids[-1] + 1
    return {
        "accounts_created": Account.objects.count() - accounts_before,
        "leads_matched": matched,
    }


# --- writes from the admin ---------------------------------------------------------------------


def accounts_merge(*, target: Account, duplicates: Iterable[Account], actor: Any) -> int:
    """Merge duplicates into `target`: their leads move to it, each duplicate's domain becomes
    an alias of it (new leads with that domain join `target`), its owner carries over when
    `target` has none. Returns the number of leads moved."""
    if not is_manager(actor):
        raise Forbidden("Only sales managers merge accounts.")
    others = [a for a in duplicates if a.pk != target.pk]
    if not others:
        raise ValidationFailed("Pick at least one other account to merge.", field="duplicates")
    with transaction.atomic():
        locked = list(
            Account.objects.select_for_update()
            .filter(pk__in=[target.pk, *(a.pk for a in others)])
            .order_by("pk")
        )
        by_id = {a.pk: a for a in locked}
        survivor = by_id[target.pk]
        if survivor.merged_into_id is not None:
            raise RuleViolation(
                f"{survivor.domain} was itself merged; merge into "
                f"account #{survivor.merged_into_id} instead.",
                code="account_merged",
                field="target",
            )
        other_ids = [a.pk for a in others]
        moved = Lead.objects.filter(account_id__in=other_ids).update(account_id=survivor.pk)
        # Aliases of the duplicates follow them to the survivor.
        Account.objects.filter(merged_into_id__in=other_ids).update(merged_into_id=survivor.pk)
        if survivor.owner_id is None:
            owner = next((by_id[i].owner_id for i in other_ids if by_id[i].owner_id), None)
            if owner is not None:
                survivor.owner_id = owner
        Account.objects.filter(pk__in=other_ids).update(
            merged_into_id=survivor.pk, owner_id=None, updated_at=timezone.now()
        )
        survivor.updated_at = timezone.now()
        survivor.save(update_fields=["owner", "updated_at"])
    return moved


def account_set_owner(*, account: Account, owner: Any, actor: Any) -> Account:
    """Give an account an owner rep (None: nobody). Managers only."""
    if not is_manager(actor):
        raise Forbidden("Only sales managers choose account owners.")
    if owner is not None and not is_rep(owner):
        raise ValidationFailed(f"{owner.get_username()} is not a sales rep.", field="owner")
    Account.objects.filter(pk=account.pk).update(owner=owner, updated_at=timezone.now())
    account.owner = owner
    return account


# --- reads -------------------------------------------------------------------------------------


def accounts_listed() -> QuerySet[Account]:
    """Surviving accounts (not merged away), with their lead count."""
    return (
        Account.objects.filter(merged_into__isnull=True)
        .select_related("owner")
        .annotate(lead_count=Count("leads"))
    )


def accounts_visible_to(user: Any) -> QuerySet[Account]:
    """Marketing and managers see every account; a rep the ones they own or hold a lead of."""
    qs = accounts_listed()
    if is_manager(user) or is_marketer(user):
        return qs
    if is_rep(user):
        return qs.filter(Q(owner=user) | Q(pk__in=leads_visible_to(user).values("account_id")))
    return qs.none()
