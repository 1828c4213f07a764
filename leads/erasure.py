"""Erasing a person's data on request (GDPR), the leads part, and the blocklist of erased emails.

The whole erasure is orchestrated by config.erasure (config wires every app): each app removes
the personal data of its own tables, here the lead row, its engagement events, its stage
history, Idempotency-Key records and outbox rows. Rows are scrubbed, never deleted, so every
count and rate the reports compute stays the same.

The blocklist keeps only a keyed hash (HMAC-SHA256 with ERASURE_HASH_KEY, else SECRET_KEY) of
the normalised email: the address cannot be read back from it, but every way in (the API, bulk
upserts, the admin import, `import_leads`) refuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q

from core.bulksql import values_in
from core.models import OutboxMessage
from core.types import Actor
from leads.history import CHANGED, history_model, history_rows_insert, tracked_columns
from leads.models import EngagementEvent, Erasure, IdempotencyRecord, Lead, LeadStageChange

ERASED = "[erased]"
ERASED_EMAIL_DOMAIN = "erased.invalid"
ERASED_EMAIL_MESSAGE = (
    "This person asked for their data to be erased: their email cannot be added again."
)


# --- the blocklist ----------------------------------------------------------------------------


def _key() -> bytes:
    key = getattr(settings, "ERASURE_HASH_KEY", "") or settings.SECRET_KEY
    return key.encode()


def email_hash(email: str) -> str:
    """The keyed hash of a normalised email (callers normalise)."""
    return hmac.new(_key(), email.encode(), hashlib.sha256).hexdigest()


def erased_among(emails: Iterable[str]) -> set[str]:
    """The emails (normalised) of the batch that were erased: one query."""
    keyed = hmac.new(_key(), digestmod=hashlib.sha256)  # copied per email: the key once
    by_hash: dict[str, str] = {}
    for email in emails:
        if email:
            one = keyed.copy()
            one.update(email.encode())
            by_hash[one.hexdigest()] = email
    if not by_hash:
        return set()
    found = values_in(Erasure, columns=["email_hash"], field="email_hash", values=list(by_hash))
    return {by_hash[h] for (h,) in found}


def is_erased(email: str) -> bool:
    return bool(email) and Erasure.objects.filter(email_hash=email_hash(email)).exists()


def erased_or_taken(email: str) -> tuple[bool, bool]:
    """(is_erased(email), whether a lead has this email), in one statement: the two checks of
    a lead's create (an API lead post asks both on every request)."""
    from django.db import connection

    from leads.models import Lead

    if not email:
        return False, Lead.objects.filter(email=email).exists()
    quote = connection.ops.quote_name
    erasures, leads = Erasure._meta.db_table, Lead._meta.db_table
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {quote(erasures)} WHERE {quote('email_hash')} = %s), "
        f"EXISTS (SELECT 1 FROM {quote(leads)} WHERE {quote('email')} = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [email_hash(email), email])
        erased, taken = cursor.fetchone()
    return bool(erased), bool(taken)


def erased_hashes() -> frozenset[str]:
    """Every hash on the blocklist, for checking a large file row by row without a query each
    (the list grows by one row per erasure request: small)."""
    return frozenset(Erasure.objects.values_list("email_hash", flat=True))


# --- scrubbing text -------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalData:
    """What identifies the person in free text: the email, names and phone as stored."""

    email: str
    names: tuple[str, ...] = ()
    phone: str = ""

    @classmethod
    def of(cls, lead: Lead) -> PersonalData:
        names = [lead.first_name, lead.last_name, lead.full_name]
        return cls(
            email=lead.email,
            names=tuple(
                sorted(
                    {n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True
                )
            ),
            phone=lead.phone.strip(),
        )

    def pattern(self) -> re.Pattern[str] | None:
        parts = []
        if self.email:
            parts.append(re.escape(self.email))
            local = self.email.split("@", 1)[0]
            if len(local) >= 3:
                parts.append(re.escape(local))
        # Names as whole words (so that "Al" does not eat "Also").
        parts.extend(rf"\b{re.escape(name)}\b" for name in self.names)
        if self.phone:
            parts.append(re.escape(self.phone))
            digits = re.sub(r"\D", "", self.phone)
            if len(digits) >= 6:
                # The same number written with other separators.
                parts.append(r"\D?".join(re.escape(d) for d in digits))
        if not parts:
            return None
        return re.compile("|".join(parts), re.IGNORECASE)


def scrub_text(text: str, pattern: re.Pattern[str] | None) -> str:
    if not text or pattern is None:
        return text
    return pattern.sub(ERASED, text)


def scrub_json(
    value: Any, pattern: re.Pattern[str] | None, *, wipe: frozenset[str] = frozenset()
) -> Any:
    """A copy of a JSON value with the person's data replaced; keys named in `wipe` (free text
    written about the person: notes, answers) lose their whole value."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in wipe and item not in (None, "", [], {}):
                out[key] = _wiped(item)
            else:
                out[key] = scrub_json(item, pattern, wipe=wipe)
        return out
    if isinstance(value, list):
        return [scrub_json(item, pattern, wipe=wipe) for item in value]
    if isinstance(value, str):
        return scrub_text(value, pattern)
    return value


def _wiped(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _wiped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wiped(item) for item in value]
    return ERASED if isinstance(value, str) and value else value


def wipe(text: str) -> str:
    """Free text written about the person: all of it goes (it may name others, or say more)."""
    return ERASED if text else text


# --- the leads part of an erasure --------------------------------------------------------------


def lead_erase(*, lead: Lead, data: PersonalData, now: dt.datetime) -> dict[str, int]:
    """Remove the person's data from the leads app's tables; the caller holds the lead's row
    lock inside its transaction. Returns counts by table (no personal data)."""
    pattern = data.pattern()
    counts: dict[str, int] = {}
    Lead.objects.filter(pk=lead.pk).update(
        email=f"erased-{lead.pk}@{ERASED_EMAIL_DOMAIN}",
        first_name="",
        last_name="",
        phone="",
        title="",
        domain="",
        ready_for_sales=False,
        ready_since=None,
        erased_at=now,
        updated_at=now,
    )
    counts["leads.lead"] = 1
    counts["leads.historicallead"] = _scrub_history(lead=lead, pattern=pattern, now=now)
    # Payloads hold what the sending system knew (pages, forms, addresses); external ids are
    # the sender's keys for the person. Kinds and moments stay: they are not about who.
    counts["leads.engagementevent"] = EngagementEvent.objects.filter(lead=lead).update(
        payload={}, external_id=""
    )
    changed = 0
    for change in LeadStageChange.objects.filter(lead=lead).exclude(reason=""):
        reason = scrub_text(change.reason, pattern)
        if reason != change.reason:
            LeadStageChange.objects.filter(pk=change.pk).update(reason=reason)
            changed += 1
    counts["leads.leadstagechange"] = changed
    counts["leads.idempotencyrecord"] = _scrub_text_rows(
        IdempotencyRecord, "response_body", data, pattern
    )
    counts["leads.outboxmessage"] = _scrub_json_rows(OutboxMessage, "kwargs", data, pattern)
    return counts


def _scrub_history(*, lead: Lead, pattern: re.Pattern[str] | None, now: dt.datetime) -> int:
    """The lead's audit rows keep every value it had: each takes the erased values, and the
    erasure itself is the last row (no actor: the Erasure row names who asked)."""
    history = history_model(Lead)
    rows = history.objects.filter(id=lead.pk)  # type: ignore[attr-defined]
    scrubbed = rows.update(
        email=f"erased-{lead.pk}@{ERASED_EMAIL_DOMAIN}",
        first_name="",
        last_name="",
        phone="",
        title="",
        domain="",
    )
    for pk, reason in rows.exclude(history_change_reason=None).values_list(
        "pk", "history_change_reason"
    ):
        if scrub_text(reason, pattern) != reason:
            history.objects.filter(pk=pk).update(  # type: ignore[attr-defined]
                history_change_reason=scrub_text(reason, pattern)[:100]
            )
    current = Lead.objects.filter(pk=lead.pk).values(*tracked_columns(Lead)).first()
    if current is not None:
        history_rows_insert(
            Lead, [current], history_type=CHANGED, actor=None, at=now, reason="erased on request"
        )
    return int(scrubbed)


def _needles(data: PersonalData) -> list[str]:
    return [n for n in (data.email, *data.names, data.phone) if n]


def _scrub_text_rows(model: Any, field: str, data: PersonalData, pattern: Any) -> int:
    """Rows of any lead's whose text mentions the person (a bulk answer lists every row's
    email): found with a case-insensitive search, rewritten one by one."""
    query = Q()
    for needle in _needles(data):
        query |= Q(**{f"{field}__icontains": needle})
    if not query:
        return 0
    changed = 0
    for pk, text in model.objects.filter(query).values_list("pk", field):
        new = scrub_text(text, pattern)
        if new != text:
            model.objects.filter(pk=pk).update(**{field: new})
            changed += 1
    return changed


def _scrub_json_rows(model: Any, field: str, data: PersonalData, pattern: Any) -> int:
    query = Q()
    for needle in _needles(data):
        # JSON as text, matched case-insensitively on both backends.
        query |= Q(**{f"{field}__icontains": needle})
    if not query:
        return 0
    changed = 0
    for pk, value in model.objects.filter(query).values_list("pk", field):
        new = scrub_json(value, pattern)
        if new != value:
            model.objects.filter(pk=pk).update(**{field: new})
            changed += 1
    return changed


def erasure_record(
    *,
    email: str,
    lead_id: int | None,
    actor: Actor | None,
    summary: dict[str, int],
    now: dt.datetime,
) -> Erasure:
    """The audit row, which is also the blocklist entry (one per email)."""
    return Erasure.objects.create(
        email_hash=email_hash(email),
        lead_id_erased=lead_id,
        erased_at=now,
        erased_by=actor if getattr(actor, "pk", None) else None,
        summary=summary,
    )
