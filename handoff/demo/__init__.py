"""Demo data for the handoff app (called by `manage.py seed_demo` after leads.demo).

Calendars (US East, EMEA), teams (AMER, EMEA, a catch-all), SLA policies, and about forty
handoffs in every state. The handoffs are made through the services with `now` moved back in
time, step by step in time order, and the real SLA sweep runs at each step's moment, so the
history is what production would have written: breaches dated at their deadlines, at-risk
flags, automatic reassignments. Handoffs still pending past their deadline at the end are left
for the live sweep, which flags them within 30 seconds of `manage.py up`.

Idempotent: calendars, teams and policies are found by name; handoffs are made only when there
are none yet.

One job per module: ``teams`` (calendars, teams, SLA policies, time off, account owners, the
auto-promotion rule), ``story`` (playing scenarios in time order with the sweep), ``scenarios``
(the lifecycle of each kind of handoff), ``texts`` (what the people in the story write),
``leads`` (the lead re-engaged after the story). ``seed`` below runs them in order.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction
from django.db.models import F

from core.types import Actor
from handoff.demo.leads import re_engage_one
from handoff.demo.scenarios import Scenarios
from handoff.demo.teams import (
    CALENDARS,
    DEMO_AUTO_RULE,
    ONE_BUSINESS_DAY,
    POLICIES,
    TEAMS,
    seed_account_owners,
    seed_auto_rule,
    seed_calendars,
    seed_policies,
    seed_teams,
    seed_time_off,
)
from handoff.demo.texts import BANT, NOTES, QUESTIONS, RETURNS
from handoff.models import Handoff, Notification
from handoff.states import Status

__all__ = [
    "BANT",
    "CALENDARS",
    "DEMO_AUTO_RULE",
    "NOTES",
    "ONE_BUSINESS_DAY",
    "POLICIES",
    "QUESTIONS",
    "RETURNS",
    "TEAMS",
    "seed",
]


def seed(
    *,
    rng: random.Random,
    now: dt.datetime,
    users: dict[str, Actor],
    lead_count: int = 0,
    stdout: Any = None,
    **_: Any,
) -> None:
    with transaction.atomic():
        calendars = seed_calendars()
        teams = seed_teams(calendars, users)
        policies = seed_policies()
        if Handoff.objects.exists():
            seed_auto_rule()
            _say(stdout, f"Handoffs: {Handoff.objects.count()} already there; setup kept.")
            return
        made = Scenarios(rng=rng, now=now, users=users).play()
        seed_time_off(users, now)
        seed_account_owners(users)
        re_engage_one(now)
        # The owners' re-engaged notices (leads, not handoffs) are history too.
        Notification.objects.filter(
            kind=Notification.Kind.RE_ENGAGED, sent_at__isnull=True, created_at__lte=now
        ).update(sent_at=F("created_at"), attempts=1)
        # After the story: its recorded events are history, not fresh signals to act on.
        seed_auto_rule()
    by_status = {
        s: Handoff.objects.filter(status=s).count() for s in Status.values
    }  # fmt: skip
    _say(
        stdout,
        f"Handoffs: {made} made ({', '.join(f'{n} {s}' for s, n in by_status.items() if n)}); "
        f"{len(calendars)} calendars, {len(teams)} teams, {len(policies)} SLA policies.",
    )


def _say(stdout: Any, text: str) -> None:
    if stdout is not None:
        stdout.write(text)
