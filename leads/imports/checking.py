"""The dry run of an import: every bad row by line with why (column and value), and how many
rows would create and update leads. Writes nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from core import roles
from core.types import Actor
from leads import erasure
from leads.imports.reading import ImportRefused, Opener, field_problems, gc_paused, mapped_rows
from leads.imports.recognition import HeaderMapping
from leads.ingest import clean_lead_row
from leads.models import Campaign, Lead


@dataclass
class CheckResult:
    total: int = 0
    to_create: int = 0
    to_update: int = 0
    bad: dict[int, str] = field(default_factory=dict)

    @property
    def good(self) -> int:
        return self.total - len(self.bad)


def import_check(
    *,
    open_file: Opener,
    mapping: HeaderMapping,
    actor: Actor | None = None,
    on_row: Callable[[int], None] | None = None,
) -> CheckResult:
    """Every bad row by line with why (column and value), and how many rows would create and
    update leads. Writes nothing."""
    if not mapping.ok:
        raise ImportRefused(" ".join(mapping.problems) + " Nothing was imported.")
    with gc_paused():
        return _check(open_file, mapping, actor, on_row)


def _check(
    open_file: Opener,
    mapping: HeaderMapping,
    actor: Actor | None,
    on_row: Callable[[int], None] | None,
) -> CheckResult:
    now = timezone.now()
    result = CheckResult()
    first_line_of: dict[str, int] = {}
    campaign_lines: dict[int | str, list[int]] = defaultdict(list)
    owner_lines: dict[int | str, list[int]] = defaultdict(list)
    blocked = erasure.erased_hashes()
    good_emails: list[str] = []
    for row in mapped_rows(open_file, mapping):
        result.total += 1
        if on_row:
            on_row(result.total)
        if row.raw:
            clean = clean_lead_row(
                row.raw, index=0, now=now, blank_is_missing=True, allow_events=False
            )
            if clean.errors:
                field_problems(row, clean.errors, mapping)
            email_ok = clean.email and "email" not in clean.errors
            # The blocklist is usually empty: no keyed hash per row then.
            if email_ok and blocked and erasure.email_hash(clean.email) in blocked:
                row.problems.append(f"email: {erasure.ERASED_EMAIL_MESSAGE}")
            if email_ok:
                if clean.email in first_line_of:
                    row.problems.append(
                        f"email: {clean.email} is also on line {first_line_of[clean.email]}"
                    )
                else:
                    first_line_of[clean.email] = row.line
            if clean.has_campaign and clean.campaign_ref is not None:
                campaign_lines[clean.campaign_ref].append(row.line)
            if clean.has_owner and clean.owner_ref is not None:
                owner_lines[clean.owner_ref].append(row.line)
            if email_ok and not row.problems:
                good_emails.append(clean.email)
        if row.problems:
            result.bad[row.line] = "; ".join(row.problems)
    for why, lines in _unknown_references(campaign_lines, owner_lines, actor):
        for line in lines:
            result.bad[line] = (result.bad[line] + "; " if line in result.bad else "") + why
    result.bad = dict(sorted(result.bad.items()))
    bad_emails = {e for e, line in first_line_of.items() if line in result.bad}
    good = [e for e in good_emails if e not in bad_emails]
    existing = 0
    for start in range(0, len(good), 5000):
        existing += Lead.objects.filter(email__in=good[start : start + 5000]).count()
    result.to_update = existing
    result.to_create = len(good) - existing
    return result


def _unknown_references(
    campaign_lines: dict[int | str, list[int]],
    owner_lines: dict[int | str, list[int]],
    actor: Actor | None,
) -> Iterator[tuple[str, list[int]]]:
    """Campaigns and owners the file names that do not exist: one query each."""
    refs = list(campaign_lines)
    found: set[int | str] = set()
    ids = [r for r in refs if isinstance(r, int)]
    names = [r for r in refs if isinstance(r, str)]
    if refs:
        for pk, name in Campaign.objects.filter(Q(pk__in=ids) | Q(name__in=names)).values_list(
            "pk", "name"
        ):
            found.update((pk, name))
    for ref in refs:
        if ref not in found:
            yield f'column "campaign": no campaign "{ref}"', campaign_lines[ref]
    refs = list(owner_lines)
    ids = [r for r in refs if isinstance(r, int)]
    names = [r for r in refs if isinstance(r, str)]
    found = set()
    if refs:
        users = get_user_model().objects.filter(Q(pk__in=ids) | Q(username__in=names))
        for pk, username in (
            users.filter(roles.marketer_q(), is_active=True)
            .values_list("pk", "username")
            .distinct()
        ):
            found.update((pk, username))
    for ref in refs:
        if ref not in found:
            yield f'column "owner": no active marketer "{ref}"', owner_lines[ref]
