"""A small world for the page tests and the browser tests.

A round-the-clock UTC calendar (so SLA clocks tick whenever the tests run), one team with a
manager and two reps (the second marked away, so promotions land with the first), a policy of 60 business minutes to accept (at risk at 75%) and 120 to the
first touch, a marketer who owns the leads, and makers for leads and handoffs that go through
the real services. Each test module declares a `world` fixture calling `make_world`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from core.roles import ALL_ROLES, MARKETING, SALES, SALES_MANAGER
from feedback import services as feedback_services
from feedback.models import RejectionReason
from feedback.taxonomy import ensure_default_reasons
from handoff import services
from handoff.models import BusinessCalendar, Handoff, SlaPolicy, Team
from leads.models import EventKind, Lead
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

PASSWORD = "pass-1234-word"  # tests.factories.UserFactory's


@dataclass
class World:
    calendar: BusinessCalendar
    team: Team
    policy: SlaPolicy
    marketer: Any
    rep: Any
    other_rep: Any
    manager: Any

    def lead(self, **fields: Any) -> Lead:
        """A lead of the marketer's, ready for sales, with a score breakdown adding up to its
        score (as leads.scoring writes it)."""
        score = fields.pop("score", 72)
        values: dict[str, Any] = {
            "stage": "lead",
            "score": score,
            "ready_for_sales": True,
            "owner": self.marketer,
            "score_breakdown": {
                "total": score,
                "fit": 30,
                "engagement": score - 45,
                "intent": 15,
                "threshold": 60,
                "items": [
                    {
                        "category": "fit",
                        "rule": "icp",
                        "label": "Industry is software",
                        "points": 30,
                    },
                    {
                        "category": "engagement",
                        "rule": "web",
                        "label": "Webinar attended",
                        "points": score - 45,
                    },
                    {"category": "intent", "rule": "demo", "label": "Demo requested", "points": 15},
                ],
            },
        }
        values.update(fields)
        return LeadFactory(**values)

    def event(self, lead: Lead, kind: str = EventKind.WEBINAR_ATTENDED, **fields: Any) -> Any:
        """An engagement event, with the lead's last-engaged (and high-intent) moments moved as
        leads.services.event_record would, but without rescoring (the breakdown stays put)."""
        values = {"lead": lead, "kind": kind, "occurred_at": timezone.now() - dt.timedelta(hours=3)}
        values.update(fields)
        event = EngagementEventFactory(**values)
        lead.last_engaged_at = max(filter(None, [lead.last_engaged_at, event.occurred_at]))
        if event.is_high_intent:
            lead.last_high_intent_at = max(
                filter(None, [lead.last_high_intent_at, event.occurred_at])
            )
        Lead.objects.filter(pk=lead.pk).update(
            last_engaged_at=lead.last_engaged_at, last_high_intent_at=lead.last_high_intent_at
        )
        return event

    def promote(
        self, lead: Lead | None = None, *, ago: dt.timedelta = dt.timedelta(0), **kw: Any
    ) -> Handoff:
        """A handoff promoted `ago` (so its clock has run that long)."""
        kw.setdefault("note", "Asked for a demo after the webinar.")
        return services.handoff_promote(
            lead=lead or self.lead(),
            actor=self.marketer,
            now=timezone.now() - ago,
            **kw,
        )

    def accept(self, handoff: Handoff, **kw: Any) -> Handoff:
        return services.handoff_accept(handoff=handoff, actor=handoff.assigned_to, **kw)

    def ask(self, handoff: Handoff, question: str = "Which product?", **kw: Any) -> Handoff:
        return services.handoff_request_info(
            handoff=handoff, actor=handoff.assigned_to, question=question, **kw
        )

    def give_back(self, handoff: Handoff, reason: str = "not-ready", note: str = "", **kw: Any):
        return feedback_services.feedback_return_handoff(
            handoff=handoff, actor=handoff.assigned_to, reason=reason, note=note, **kw
        )


def ensure_roles_and_reasons() -> None:
    """Groups and reasons come from data migrations; a transactional test (live server) that
    runs without serialized rollback after a flush would not have them."""
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    ensure_default_reasons(RejectionReason)


def make_world(*, usernames: tuple[str, str, str, str] | None = None) -> World:
    ensure_roles_and_reasons()
    marketer_name, rep_name, other_name, manager_name = usernames or (
        "mia.marketer",
        "rob.rep",
        "olga.rep",
        "max.manager",
    )
    marketer = UserFactory(
        username=marketer_name, first_name="Mia", last_name="Marketer", role=MARKETING
    )
    rep = UserFactory(username=rep_name, first_name="Rob", last_name="Rep", role=SALES)
    other_rep = UserFactory(username=other_name, first_name="Olga", last_name="Rep", role=SALES)
    manager = UserFactory(
        username=manager_name,
        first_name="Max",
        last_name="Manager",
        role=SALES_MANAGER,
        is_staff=True,
    )
    calendar = BusinessCalendarFactory(
        name="Round the clock", timezone="UTC", windows=[(d, "00:00", "00:00") for d in range(7)]
    )
    team = TeamFactory(name="Inside Sales", calendar=calendar, manager=manager)
    TeamMembershipFactory(team=team, rep=rep, position=0, capacity=500)
    # Away by default, so every promotion lands with `rep`; tests hand work to Olga explicitly.
    TeamMembershipFactory(team=team, rep=other_rep, position=1, capacity=500, is_away=True)
    policy = SlaPolicyFactory(
        name="Standard", accept_within_minutes=60, first_touch_within_minutes=120
    )
    return World(calendar, team, policy, marketer, rep, other_rep, manager)


def campaign(name: str = "Spring webinar") -> Any:
    return CampaignFactory(name=name)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    """The page's visible text: tags, scripts and styles stripped, whitespace folded."""
    html = response.content.decode()
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
