"""The demo's story engine: scenarios (handoff.demo.scenarios) are generators yielding (when,
action); the story plays them in time order across all handoffs, running the real SLA sweep at
each step's moment, with the helpers the scenarios share (pick a lead, promote it, act as its
rep, pick moments)."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable, Generator
from typing import Any

from django.db.models import F

from core.errors import RuleViolation
from core.types import Actor
from handoff import services, sla
from handoff.assignment import match_team
from handoff.demo.texts import NOTES
from handoff.models import Handoff, Notification, TeamMembership
from handoff.selectors import calendar_for
from handoff.states import OPEN_STATUSES, Status
from leads.models import Lead, Stage

Step = tuple[dt.datetime, Callable[[dt.datetime], Any]]
Scenario = Generator[Step, Any, None]


class Story:
    """Scenarios are generators yielding (when, action); they are played in time order across
    all handoffs, with the SLA sweep run at each step's moment. The scenario of each kind
    (`_<kind>`) is a method of the subclass handoff.demo.scenarios.Scenarios."""

    def __init__(self, *, rng: random.Random, now: dt.datetime, users: dict[str, Actor]) -> None:
        self.rng = rng
        self.now = now
        self.users = users
        self.manager = users.get("nina")
        self.marketers = [users[n] for n in ("maria", "mark") if n in users]
        self.used: set[int] = set()
        self.made: list[int] = []

    def play(self) -> int:
        if not self.marketers or self.manager is None:
            return 0
        plan: list[tuple[str, int, float, float]] = [
            # scenario, how many, promoted between (hours ago) min and max; all but the fresh
            # ones are moved into the team's working hours, as marketers promote at work
            ("fresh", 6, 0.05, 0.8),
            ("pending", 5, 48, 144),  # long overdue: breached
            ("waiting", 3, 3, 48),
            ("resumed", 2, 24, 96),
            ("accepted", 5, 6, 72),
            ("touched", 4, 48, 240),
            ("qualified", 6, 120, 600),
            ("returned", 6, 72, 600),
            ("reassigned", 3, 24, 240),
        ]
        order = itertools.count()
        heap: list[tuple[dt.datetime, int, Scenario, Callable[[dt.datetime], Any]]] = []
        for kind, count, low, high in plan:
            for _ in range(count):
                start = self.now - dt.timedelta(hours=self.rng.uniform(low, high))
                lead = self._lead(before=start)
                if lead is None:
                    continue
                if kind != "fresh":
                    start = self._working_moment(lead, start)
                scenario = getattr(self, f"_{kind}")(lead, start)
                when, action = next(scenario)
                heapq.heappush(heap, (when, next(order), scenario, action))
        from handoff.sweep import sla_sweep

        while heap:
            when, _, scenario, action = heapq.heappop(heap)
            sla_sweep(now=when)
            result = action(when)
            try:
                nxt, nxt_action = scenario.send(result)
            except StopIteration:
                continue
            heapq.heappush(heap, (max(nxt, when), next(order), scenario, nxt_action))
        # The story is history: its emails went out when it happened.
        Notification.objects.filter(handoff_id__in=self._all_ids(), sent_at__isnull=True).update(
            sent_at=F("created_at"), attempts=1
        )
        return len(self._all_ids())

    def _all_ids(self) -> list[int]:
        return list(Handoff.objects.filter(lead_id__in=self.used).values_list("id", flat=True))

    # helpers -----------------------------------------------------------------------------

    def _working_moment(self, lead: Lead, moment: dt.datetime) -> dt.datetime:
        """The latest moment at or before `moment` inside the working hours of the team that
        takes the lead (or `moment` itself when none is found within two weeks)."""
        try:
            team, _ = match_team(lead=lead)
        except RuleViolation:
            return moment
        calendar = calendar_for(team.calendar)
        probe = moment
        for _ in range(14 * 48):
            if sla.is_business_time(probe, calendar):
                return probe
            probe -= dt.timedelta(minutes=30)
        return moment

    def _lead(self, *, before: dt.datetime) -> Lead | None:
        # The better half of the promotable leads, as marketing promotes its best.
        candidates = (
            Lead.objects.filter(stage__in=(Stage.LEAD, Stage.MQL), created_at__lt=before)
            .exclude(pk__in=self.used)
            .order_by("-score", "id")[:60]
        )
        pool = list(candidates)
        if not pool:
            return None
        lead = self.rng.choice(pool)
        self.used.add(lead.pk)
        return lead

    def _at(self, start: dt.datetime, end: dt.datetime, low: float, high: float) -> dt.datetime:
        """A moment between start and end (by share of the span), never in the future."""
        moment = start + (end - start) * self.rng.uniform(low, high)
        return min(moment, self.now - dt.timedelta(minutes=1))

    def _open(self, lead: Lead) -> Handoff | None:
        return (
            Handoff.objects.filter(lead=lead, status__in=OPEN_STATUSES)
            .select_related("lead", "team", "calendar", "assigned_to", "promoted_by")
            .first()
        )

    def _with_rep(self, lead: Lead, now: dt.datetime) -> Handoff | None:
        """The lead's open handoff, handed to a rep first if it waits in the manager's queue."""
        handoff = self._open(lead)
        if handoff is None or handoff.assigned_to_id is not None or handoff.team_id is None:
            return handoff
        members = list(
            TeamMembership.objects.filter(team_id=handoff.team_id, active=True).select_related(
                "rep"
            )
        )
        if not members:
            return handoff
        return services.handoff_reassign(
            handoff=handoff,
            actor=self.manager,
            to_rep=self.rng.choice(members).rep,
            reason="assigned from the manager's queue",
            now=now,
        )

    def _promote(self, lead: Lead) -> Callable[[dt.datetime], Handoff]:
        promoter = lead.owner if lead.owner in self.marketers else self.rng.choice(self.marketers)

        def act(now: dt.datetime) -> Handoff:
            return services.handoff_promote(
                lead=lead, actor=promoter, note=self.rng.choice(NOTES), now=now
            )

        return act

    def _act(self, lead: Lead, do: Callable[[Handoff, Actor, dt.datetime], Any]) -> Callable[[dt.datetime], Any]:  # fmt: skip
        """The step `do(handoff, its rep, now)` on the lead's open handoff; None (the step is
        skipped) when there is no open handoff or nobody to hand it to."""

        def act(now: dt.datetime) -> Any:
            handoff = self._with_rep(lead, now)
            if handoff is None or handoff.assigned_to is None:
                return None
            return do(handoff, handoff.assigned_to, now)

        return act

    def _accept(self, lead: Lead) -> Callable[[dt.datetime], Any]:
        def do(h: Handoff, rep: Actor, now: dt.datetime) -> Any:
            if h.status != Status.PENDING:
                return h
            return services.handoff_accept(handoff=h, actor=rep, now=now)

        return self._act(lead, do)

    def _accept_time(self, h: Handoff, start: dt.datetime, *, late: bool) -> dt.datetime:
        due = h.due_at or start + dt.timedelta(hours=1)
        if late:
            return min(due + dt.timedelta(minutes=self.rng.uniform(20, 300)), self._latest())
        return self._at(h.created_at, due, 0.15, 0.85)

    def _latest(self) -> dt.datetime:
        return self.now - dt.timedelta(minutes=1)
