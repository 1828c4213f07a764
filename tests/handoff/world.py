"""A small handoff world for service, assignment, API and admin tests.

A New York calendar (Monday to Friday, 09:00-17:00), team AMER with a manager and two reps, one
catch-all SLA policy (240 business minutes to accept, 480 to first touch), a marketer and a
`lead()` maker. Import the `world` fixture into a test module to use it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from core.roles import SALES
from handoff import services
from handoff.models import BusinessCalendar, Handoff, SlaPolicy, Team, TeamMembership
from leads.models import Lead
from tests.factories import (
    BusinessCalendarFactory,
    LeadFactory,
    SlaPolicyFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)

NY = ZoneInfo("America/New_York")
# A Tuesday morning in New York, inside working hours and far from holidays and DST.
TUESDAY_10 = dt.datetime(2025, 3, 4, 10, 0, tzinfo=NY)
# A promotion needs a context note of a sentence (services.CONTEXT_NOTE_MIN_CHARS).
NOTE = "Asked for a demo after the pricing webinar."


@dataclass
class World:
    calendar: BusinessCalendar
    team: Team
    policy: SlaPolicy
    manager: Any
    marketer: Any
    rep: Any
    other_rep: Any
    memberships: dict[str, TeamMembership]

    def lead(self, **fields: Any) -> Lead:
        values: dict[str, Any] = {"stage": "lead", "score": 70, "owner": self.marketer}
        values.update(fields)
        return LeadFactory(**values)

    def promote(
        self, lead: Lead | None = None, *, now: dt.datetime = TUESDAY_10, **kw: Any
    ) -> Handoff:
        kw.setdefault("note", NOTE)
        return services.handoff_promote(
            lead=lead or self.lead(), actor=self.marketer, now=now, **kw
        )

    def rep_user(self, username: str, **membership: Any) -> Any:
        """Another rep in the team (appended to the rotation)."""
        user = UserFactory(username=username, role=SALES)
        values = {"position": len(self.memberships)}
        values.update(membership)
        self.memberships[username] = TeamMembershipFactory(team=self.team, rep=user, **values)
        return user


def make_world(*, marketer: Any, rep: Any, other_rep: Any, manager: Any) -> World:
    """Build the world; each test module declares a `world` fixture calling this:

    @pytest.fixture
    def world(db, marketer, rep, other_rep, manager):
        return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)
    """
    calendar = BusinessCalendarFactory(name="New York", timezone="America/New_York")
    team = TeamFactory(name="AMER", calendar=calendar, manager=manager, match_regions=["AMER"])
    memberships = {
        rep.username: TeamMembershipFactory(team=team, rep=rep, position=0),
        other_rep.username: TeamMembershipFactory(team=team, rep=other_rep, position=1),
    }
    policy = SlaPolicyFactory(
        name="Standard", accept_within_minutes=240, first_touch_within_minutes=480
    )
    return World(calendar, team, policy, manager, marketer, rep, other_rep, memberships)
