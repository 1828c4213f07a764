"""Handoffs to sales, the calendars and policies that time them, and the teams that take them.

One module per kind of row; every model is imported here, so `from handoff.models import X` and
the migrations keep working (the app label stays `handoff`)."""

from handoff.models.autopromotion import AutoPromotion, AutoPromotionRule
from handoff.models.calendars import BusinessCalendar, CalendarDate, WorkingWindow
from handoff.models.dashboard import DashboardDay, DashboardRefresh
from handoff.models.events import HandoffEvent
from handoff.models.handoff import SLA_MET, SLA_MISSED_UNFLAGGED, Handoff
from handoff.models.notifications import Notification
from handoff.models.policies import SlaPolicy
from handoff.models.teams import Team, TeamMembership, TimeOff

__all__ = [
    "SLA_MET",
    "SLA_MISSED_UNFLAGGED",
    "AutoPromotion",
    "AutoPromotionRule",
    "BusinessCalendar",
    "CalendarDate",
    "DashboardDay",
    "DashboardRefresh",
    "Handoff",
    "HandoffEvent",
    "Notification",
    "SlaPolicy",
    "Team",
    "TeamMembership",
    "TimeOff",
    "WorkingWindow",
]
