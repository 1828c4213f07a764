"""Admin for sales managers, one area per module, each registered on import: handoffs
(read-only, with their clock and events, reassigned by an action calling the service), business
calendars, SLA policies, teams, the notification outbox, auto-promotion (marketing's rules and
their log), and reps' time off.

Reps have no admin: handoff screens answer only to managers (and superusers), whatever a user's
staff flag (``access.ManagersOnly``), and reps work from their queue pages and the API.
"""

from handoff.admin.access import ManagersOnly
from handoff.admin.auto_promotion import (
    AutoPromotionAdmin,
    AutoPromotionRuleAdmin,
    AutoPromotionRuleForm,
)
from handoff.admin.calendars import (
    BusinessCalendarAdmin,
    BusinessCalendarForm,
    CalendarDateInline,
    WorkingWindowInline,
)
from handoff.admin.handoffs import (
    EVENT_FIELDS,
    HANDOFF_FIELDSETS,
    HandoffAdmin,
    HandoffChangeList,
    HandoffEventInline,
)
from handoff.admin.list_filters import AtRiskFilter, BreachedFilter, RepFilter
from handoff.admin.notifications import NotificationAdmin
from handoff.admin.policies import SlaPolicyAdmin, SlaPolicyForm
from handoff.admin.teams import TeamAdmin, TeamMembershipInline
from handoff.admin.time_off import TimeOffAdmin, TimeOffAdminForm

__all__ = [
    "EVENT_FIELDS",
    "HANDOFF_FIELDSETS",
    "AtRiskFilter",
    "AutoPromotionAdmin",
    "AutoPromotionRuleAdmin",
    "AutoPromotionRuleForm",
    "BreachedFilter",
    "BusinessCalendarAdmin",
    "BusinessCalendarForm",
    "CalendarDateInline",
    "HandoffAdmin",
    "HandoffChangeList",
    "HandoffEventInline",
    "ManagersOnly",
    "NotificationAdmin",
    "RepFilter",
    "SlaPolicyAdmin",
    "SlaPolicyForm",
    "TeamAdmin",
    "TeamMembershipInline",
    "TimeOffAdmin",
    "TimeOffAdminForm",
    "WorkingWindowInline",
]
