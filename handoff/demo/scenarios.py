"""The lifecycle of each kind of demo handoff, as a scenario of the story (handoff.demo.story):
fresh, pending past its deadline, waiting for marketing, resumed, accepted, touched, qualified,
returned, reassigned."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.errors import Conflict
from core.types import Actor
from handoff import services
from handoff.demo.story import Scenario, Story
from handoff.demo.texts import BANT, QUESTIONS, RETURNS
from handoff.models import Handoff, TeamMembership
from handoff.states import Status
from leads.models import Lead


class Scenarios(Story):
    """The story with its scenarios: `play` runs `_<kind>` for each kind of its plan."""

    def _fresh(self, lead: Lead, start: dt.datetime) -> Scenario:
        yield start, self._promote(lead)

    def _pending(self, lead: Lead, start: dt.datetime) -> Scenario:
        yield start, self._promote(lead)

    def _waiting(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        question = self.rng.choice(QUESTIONS)
        yield (
            self._at(h.created_at, h.due_at or self.now, 0.1, 0.5),
            self._act(lead, lambda h, rep, now: services.handoff_request_info(
                handoff=h, actor=rep, question=question, now=now)),
        )  # fmt: skip

    def _resumed(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        asked_at = self._at(h.created_at, h.due_at or self.now, 0.1, 0.5)
        yield asked_at, self._act(lead, lambda h, rep, now: services.handoff_request_info(
            handoff=h, actor=rep, question=self.rng.choice(QUESTIONS), now=now))  # fmt: skip
        answer_at = self._at(asked_at, self.now, 0.1, 0.4)
        yield answer_at, self._act(lead, lambda h, rep, now: services.handoff_provide_info(
            handoff=h, actor=h.promoted_by or self.marketers[0], answer="Checked: see the note on the lead.",
            now=now))  # fmt: skip

    def _accepted(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        late = self.rng.random() < 0.3
        yield self._accept_time(h, start, late=late), self._accept(lead)

    def _touched(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        accepted: Handoff = yield self._accept_time(h, start, late=self.rng.random() < 0.25), self._accept(lead)  # fmt: skip
        if accepted is None or accepted.status != Status.ACCEPTED:
            return
        touch_at = self._at(
            accepted.accepted_at or start, accepted.first_touch_due_at or self.now, 0.1, 1.2
        )
        channel = self.rng.choice(["call", "email", "meeting"])
        yield touch_at, self._act(lead, lambda h, rep, now: services.handoff_log_first_touch(
            handoff=h, actor=rep, channel=channel, note="Introductory call booked", now=now))  # fmt: skip

    def _qualified(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        accepted: Handoff = yield self._accept_time(h, start, late=self.rng.random() < 0.2), self._accept(lead)  # fmt: skip
        if accepted is None or accepted.status != Status.ACCEPTED:
            return
        touch_at = self._at(
            accepted.accepted_at or start, accepted.first_touch_due_at or self.now, 0.1, 0.9
        )
        yield touch_at, self._act(lead, lambda h, rep, now: services.handoff_log_first_touch(
            handoff=h, actor=rep, channel="call", note="Discovery call", now=now))  # fmt: skip
        qualify_at = self._at(touch_at, self.now, 0.05, 0.3)
        bant = self.rng.choice(BANT)
        yield qualify_at, self._act(lead, lambda h, rep, now: services.handoff_qualify(
            handoff=h, actor=rep, bant=bant, note="Good fit, moving to opportunity", now=now))  # fmt: skip

    def _returned(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        code = self.rng.choice(sorted(RETURNS))
        effect, days, note = RETURNS[code]
        when = self._at(h.created_at, h.due_at or self.now, 0.2, 0.9)
        if self.rng.random() < 0.5:
            accepted: Handoff = yield when, self._accept(lead)
            if accepted is None:
                return
            when = self._at(when, self.now, 0.05, 0.3)

        def do(h: Handoff, rep: Actor, now: dt.datetime) -> Any:
            return services.handoff_return(
                handoff=h, actor=rep, reason_code=code, note=note, lead_effect=effect,
                recycle_until=now + dt.timedelta(days=days) if effect == "recycle" else None,
                now=now,
            )  # fmt: skip

        yield when, self._act(lead, do)

    def _reassigned(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        when = self._at(h.created_at, h.due_at or self.now, 0.5, 0.95)

        def do(h: Handoff, rep: Actor, now: dt.datetime) -> Any:
            if h.status != Status.PENDING:
                return h
            reason = f"{rep.first_name or rep} is out sick"
            try:
                return services.handoff_reassign(
                    handoff=h, actor=self.manager, reason=reason, now=now
                )
            except Conflict as exc:
                if exc.code != "nobody_available":
                    raise
                h = Handoff.objects.get(pk=h.pk)  # the refused attempt changed nothing
            # Nobody in the rotation is at work now: the manager picks a teammate by name.
            if h.team_id is None:
                return h
            mate = (
                TeamMembership.objects.filter(team_id=h.team_id, active=True, rep__is_active=True)
                .exclude(rep_id=h.assigned_to_id)
                .select_related("rep")
                .order_by("rep__username")
                .first()
            )
            if mate is None:
                return h
            return services.handoff_reassign(
                handoff=h, actor=self.manager, to_rep=mate.rep, reason=reason, now=now
            )

        new: Handoff = yield when, self._act(lead, do)
        if new is not None and self.rng.random() < 0.6:
            yield self._accept_time(new, when, late=False), self._accept(lead)
