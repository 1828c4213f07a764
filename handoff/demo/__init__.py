"""Demo data for the handoff app (called by `manage.py seed_demo` after leads.demo)."""

from handoff.demo.story import (
    BANT,
    CALENDARS,
    DEMO_AUTO_RULE,
    NOTES,
    ONE_BUSINESS_DAY,
    POLICIES,
    QUESTIONS,
    RETURNS,
    TEAMS,
    seed,
)

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
