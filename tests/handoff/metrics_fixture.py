"""A small history of handoffs, played in time order through the real services (and the real
sweep), whose SLA and funnel figures are worked out by hand below.

Calendar: New York, Monday to Friday 09:00-17:00 (EST, UTC-5: February, far from DST), no
holidays. Policy: 240 business minutes to accept, at risk at 75% (180 minutes). Team AMER has
one rep, Rob; team EMEA has Olga. Times below are New York wall clock.

| handoff | team | promoted | then | SLA outcome | wall / business min to accept |
|---|---|---|---|---|---|
| h1 | AMER | Mon 3 Feb 10:00 (due 14:00) | accepted 11:00, qualified Tue 4 10:00 | met Mon 3 | 60 / 60 |
| h2 | AMER | Mon 3 10:00, webinar lead | accepted 13:30 | met Mon 3 | 210 / 210 |
| h3 | AMER | Mon 3 10:00 | returned 12:00 ("no-budget") | met Mon 3 | - |
| h4 | AMER | Tue 4 15:00 (due Wed 11:00) | accepted Wed 5 12:00 (late) | missed Wed 5 | 1260 / 300 |
| h10 | EMEA | Tue 4 10:00 | accepted 10:20 | met Tue 4 | 20 / 20 |
| h5 | AMER | Thu 6 10:00 (due 14:00) | swept at 14:01: breached, still pending | missed Thu 6 | - |
| h6 | AMER | Mon 10 09:00 (due 13:00, at risk 12:00) | pending: at risk now | none yet | - |
| h7 | AMER | Mon 10 09:30 | accepted 10:00 | met Mon 10 | 30 / 30 |
| h8 | AMER | Mon 10 10:00 (due 14:00) | reassigned 10:30 to Olga | none (reassigned early) | - |
| h8b | AMER | Mon 10 10:30, Olga (due 14:30) | pending, not at risk yet | none yet | - |
| h9 | AMER | Mon 10 09:00 | asked marketing 10:00, answered 11:00 (due 14:00), accepted 11:30 | met Mon 10 | 90 / 90 |

NOW is Mon 10 Feb 12:30. The range RANGE is 3-10 Feb (ISO weeks 2025-W06 and 2025-W07).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from core.roles import SALES
from feedback.services import feedback_return_handoff
from handoff import services
from handoff.models import Handoff, Team
from handoff.sweep import sla_sweep
from leads.models import Source
from tests.factories import (
    BusinessCalendarFactory,
    LeadFactory,
    SlaPolicyFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)

NY = ZoneInfo("America/New_York")


def ny(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 2, day, hour, minute, tzinfo=NY)


NOW = ny(10, 12, 30)
START, END = dt.date(2025, 2, 3), dt.date(2025, 2, 10)
BANT = {"budget": "yes", "authority": "VP", "need": "routing", "timeline": "Q2"}


@dataclass
class MetricsWorld:
    amer: Team
    emea: Team
    manager: Any
    marketer: Any
    rob: Any
    olga: Any
    h: dict[str, Handoff]


def build(*, manager: Any, marketer: Any) -> MetricsWorld:
    calendar = BusinessCalendarFactory(name="New York", timezone="America/New_York")
    amer = TeamFactory(name="AMER", calendar=calendar, manager=manager, priority=1)
    emea = TeamFactory(name="EMEA", calendar=calendar, manager=manager, priority=2)
    rob = UserFactory(username="rob", first_name="Rob", last_name="Reyes", role=SALES)
    olga = UserFactory(username="olga", first_name="Olga", last_name="Ortiz", role=SALES)
    TeamMembershipFactory(team=amer, rep=rob, position=0)
    TeamMembershipFactory(team=emea, rep=olga, position=0)
    SlaPolicyFactory(name="Standard", accept_within_minutes=240, first_touch_within_minutes=480)
    h: dict[str, Handoff] = {}

    def promote(name: str, at: dt.datetime, team: Team = amer, **lead: Any) -> Handoff:
        values: dict[str, Any] = {"stage": "lead", "score": 70, "owner": marketer}
        values.update(lead)
        h[name] = services.handoff_promote(
            lead=LeadFactory(**values),
            actor=marketer,
            team=team,
            now=at,
            note="Asked for a demo after the pricing webinar.",
        )
        return h[name]

    def accept(name: str, at: dt.datetime) -> None:
        services.handoff_accept(handoff=h[name], actor=h[name].assigned_to, now=at)

    promote("h1", ny(3, 10))
    promote("h2", ny(3, 10), source=Source.WEBINAR)
    promote("h3", ny(3, 10))
    accept("h1", ny(3, 11))
    feedback_return_handoff(handoff=h["h3"], actor=rob, reason="no-budget", now=ny(3, 12))
    accept("h2", ny(3, 13, 30))
    promote("h10", ny(4, 10), team=emea)
    accept("h10", ny(4, 10, 20))
    services.handoff_qualify(handoff=h["h1"], actor=rob, bant=BANT, now=ny(4, 10))
    promote("h4", ny(4, 15))
    accept("h4", ny(5, 12))
    promote("h5", ny(6, 10))
    # In UTC: the sweep's raw SQL compares text on SQLite, where the rows are stored in UTC.
    sla_sweep(now=ny(6, 14, 1).astimezone(dt.UTC))
    promote("h6", ny(10, 9))
    promote("h9", ny(10, 9))
    promote("h7", ny(10, 9, 30))
    promote("h8", ny(10, 10))
    accept("h7", ny(10, 10))
    services.handoff_request_info(
        handoff=h["h9"], actor=rob, question="Which product line?", now=ny(10, 10)
    )
    h["h8b"] = services.handoff_reassign(
        handoff=h["h8"], actor=manager, to_rep=olga, reason="balance", now=ny(10, 10, 30)
    )
    services.handoff_provide_info(handoff=h["h9"], actor=marketer, answer="Routing", now=ny(10, 11))
    accept("h9", ny(10, 11, 30))
    for handoff in h.values():
        handoff.refresh_from_db()
    return MetricsWorld(amer, emea, manager, marketer, rob, olga, h)
