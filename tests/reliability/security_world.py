"""The world the security tests (fuzzing, authorization matrix, erasure, audit trail) work in.

Two teams on a round-the-clock UTC calendar (so clocks run whenever the tests do): team A with
two reps (`rep`, whose handoffs are "own", and `rep_mate`, "same team"), team B with
`rep_other` ("other team"), and an empty Overflow team whose handoffs nobody can take
("unassigned", in the manager's queue). Two marketers (`marketer` owns the leads, `marketer2`
owns none), a sales manager, a superuser. Every handoff goes through the real services.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.roles import MARKETING, SALES, SALES_MANAGER
from feedback import services as feedback_services
from handoff import services
from handoff.models import Handoff, Team, TeamMembership
from leads.models import EventKind, Lead
from leads.services import scoring_rules_install_defaults
from tests.factories import (
    BusinessCalendarFactory,
    CampaignFactory,
    EngagementEventFactory,
    LeadFactory,
    SlaPolicyFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)
from tests.ui.world import ensure_roles_and_reasons

ROLES = ("anonymous", "marketer", "rep", "manager", "admin")
OWNERS = ("own", "same_team", "other_team", "unassigned")


@dataclass
class SecurityWorld:
    users: dict[str, Any]
    teams: dict[str, Team]
    campaign: Any
    handoffs: dict[str, Handoff] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    _counter: list[int] = field(default_factory=lambda: [0])

    def user(self, role: str) -> Any:
        return None if role == "anonymous" else self.users[role]

    def token(self, role: str) -> str:
        return Token.objects.get_or_create(user=self.users[role])[0].key

    def lead(self, **fields: Any) -> Lead:
        self._counter[0] += 1
        n = self._counter[0]
        values: dict[str, Any] = {
            "email": f"lead{n}@world{n}.example",
            "stage": "lead",
            "score": 75,
            "ready_for_sales": True,
            "owner": self.users["marketer"],
            "campaign": self.campaign,
            "country": "US",
        }
        values.update(fields)
        lead = LeadFactory(**values)
        EngagementEventFactory(
            lead=lead,
            kind=EventKind.DEMO_REQUEST,
            occurred_at=timezone.now() - dt.timedelta(hours=2),
            payload={"page": "/demo", "email": lead.email},
        )
        return lead

    def promote(
        self, to: str, lead: Lead | None = None, note: str = "Hot lead: asked for a demo this week."
    ) -> Handoff:
        """A pending handoff assigned to `to`: rep, rep_mate, rep_other or None (unassigned)."""
        lead = lead or self.lead()
        team = {
            "rep": self.teams["a"],
            "rep_mate": self.teams["a"],
            "rep_other": self.teams["b"],
            None: self.teams["overflow"],
        }[to]
        memberships = TeamMembership.objects.filter(team=team)
        if to is not None:
            # Everyone else in the team is away for this one promotion.
            memberships.exclude(rep=self.users[to]).update(is_away=True)
        try:
            handoff = services.handoff_promote(
                lead=lead, actor=self.users["marketer"], note=note, team=team
            )
        finally:
            memberships.update(is_away=False)
        expected = self.users[to].pk if to else None
        assert handoff.assigned_to_id == expected, (handoff.routing, to)
        return handoff

    def accepted(self, to: str) -> Handoff:
        handoff = self.promote(to)
        return services.handoff_accept(handoff=handoff, actor=self.users[to])

    def waiting(self, to: str) -> Handoff:
        handoff = self.promote(to)
        return services.handoff_request_info(
            handoff=handoff, actor=self.users[to], question="Which product line?"
        )

    def returned(self, to: str, reason: str = "not-ready") -> Handoff:
        handoff = self.promote(to)
        feedback_services.feedback_return_handoff(
            handoff=handoff, actor=self.users[to], reason=reason, note="Not now."
        )
        handoff.refresh_from_db()
        return handoff


def owner_of(key: str) -> str | None:
    """The assignee a handoff of each owner kind gets, from the rep's point of view."""
    return {"own": "rep", "same_team": "rep_mate", "other_team": "rep_other", "unassigned": None}[
        key
    ]


def make_security_world(*, handoffs: bool = True) -> SecurityWorld:
    ensure_roles_and_reasons()
    scoring_rules_install_defaults()
    users = {
        "marketer": UserFactory(
            username="mia.marketer", first_name="Mia", role=MARKETING, is_staff=True
        ),
        "marketer2": UserFactory(
            username="mo.marketer", first_name="Mo", role=MARKETING, is_staff=True
        ),
        "rep": UserFactory(username="rob.rep", first_name="Rob", role=SALES),
        "rep_mate": UserFactory(username="rita.rep", first_name="Rita", role=SALES),
        "rep_other": UserFactory(username="olga.rep", first_name="Olga", role=SALES),
        "manager": UserFactory(
            username="max.manager", first_name="Max", role=SALES_MANAGER, is_staff=True
        ),
        "admin": UserFactory(
            username="ada.admin", first_name="Ada", is_staff=True, is_superuser=True
        ),
    }
    calendar = BusinessCalendarFactory(
        name="Round the clock", timezone="UTC", windows=[(d, "00:00", "00:00") for d in range(7)]
    )
    teams = {
        "a": TeamFactory(name="Team A", calendar=calendar, manager=users["manager"], priority=1),
        "b": TeamFactory(name="Team B", calendar=calendar, manager=users["manager"], priority=2),
        "overflow": TeamFactory(name="Overflow", calendar=calendar, priority=3),
    }
    TeamMembershipFactory(team=teams["a"], rep=users["rep"], position=0, capacity=1000)
    TeamMembershipFactory(team=teams["a"], rep=users["rep_mate"], position=1, capacity=1000)
    TeamMembershipFactory(team=teams["b"], rep=users["rep_other"], position=0, capacity=1000)
    SlaPolicyFactory(name="Standard", accept_within_minutes=60, first_touch_within_minutes=120)
    world = SecurityWorld(users=users, teams=teams, campaign=CampaignFactory(name="Webinar"))
    if handoffs:
        for owner in OWNERS:
            world.handoffs[owner] = world.promote(owner_of(owner))
            world.leads[owner] = world.handoffs[owner].lead
    return world
