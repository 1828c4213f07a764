"""A world with qualified handoffs to grow opportunities from (the security world's teams)."""

from __future__ import annotations

from typing import Any

import pytest

from handoff import services as handoff_services
from handoff.models import Handoff
from tests.reliability.security_world import SecurityWorld, make_security_world

BANT = {"budget": "50k", "authority": "CFO", "need": "Reports", "timeline": "Q3"}


class PipelineWorld:
    def __init__(self, world: SecurityWorld) -> None:
        self.world = world
        self.users = world.users

    def qualified(self, to: str | None = "rep", **lead_fields: Any) -> Handoff:
        lead = self.world.lead(**lead_fields) if lead_fields else None
        handoff = self.world.promote(to, lead=lead)
        actor = self.users[to] if to else self.users["manager"]
        handoff = handoff_services.handoff_accept(handoff=handoff, actor=actor)
        return handoff_services.handoff_qualify(handoff=handoff, actor=actor, bant=BANT)


@pytest.fixture
def pw(db) -> PipelineWorld:
    return PipelineWorld(make_security_world(handoffs=False))
