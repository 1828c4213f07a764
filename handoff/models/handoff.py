"""Handoffs to sales: one promotion of a lead, on an SLA clock, with its warm-handoff packet.

The clock words (time left, late by, at risk) are computed by handoff.clocks: the methods here
delegate to it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When

from handoff import clocks, sla
from handoff.models.calendars import BusinessCalendar
from handoff.models.policies import SlaPolicy
from handoff.models.teams import Team
from handoff.states import OPEN_STATUSES, Status
from leads.models import Campaign, Lead, Source

# The SLA outcome of a handoff as the database keeps it (handoff.metrics has the definitions):
# met when answered at or before the deadline and never flagged; missed at the deadline when
# flagged, answered late or reassigned after it. A pending handoff past its deadline that the
# sweep has not flagged yet has no stored outcome (that depends on the moment of the read, so
# the metrics read those rows apart); nor has a deadline still ahead or a paused clock.
SLA_MET = Q(
    responded_at__isnull=False,
    due_at__isnull=False,
    responded_at__lte=F("due_at"),
    breached_at__isnull=True,
)
SLA_MISSED_UNFLAGGED = Q(breached_at__isnull=True, due_at__isnull=False) & (
    Q(responded_at__gt=F("due_at"))
    | Q(status=Status.REASSIGNED, responded_at__isnull=True, closed_at__gte=F("due_at"))
)


class Handoff(models.Model):
    """One promotion of a lead to sales, on an SLA clock."""

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="handoffs")
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Empty while it waits in the team manager's queue (nobody could take it).
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_handoffs",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    policy_snapshot = models.JSONField(default=dict, blank=True)
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)

    # The warm-handoff packet: what the rep sees is what marketing saw at that moment.
    context_note = models.TextField(blank=True)
    score_snapshot = models.IntegerField(default=0)
    # Where the lead came from when it was handed over: reports attribute outcomes to these
    # without joining leads (and later edits of the lead do not rewrite history).
    lead_source = models.CharField(max_length=32, choices=Source.choices, blank=True)
    lead_campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    score_breakdown = models.JSONField(default=dict, blank=True)
    engagement_snapshot = models.JSONField(default=list, blank=True)
    # The PQL criteria the lead met when promoted ([] for an MQL by score only).
    pql_criteria = models.JSONField(default=list, blank=True)
    history_snapshot = models.JSONField(
        default=list, blank=True, help_text="Earlier handoffs of this lead and how they ended."
    )
    # Why this rep: rule, team, rotation position, who was skipped and why.
    routing = models.JSONField(default=dict, blank=True)
    # Promoted by the system: the auto-promotion rule, and {"id", "name"} as it was then.
    auto_rule = models.ForeignKey(
        "AutoPromotionRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handoffs",
        db_index=False,
    )
    auto_promotion = models.JSONField(null=True, blank=True)
    # Speed to lead: the buyer's signal (the triggering event, or for a marketer's promotion
    # the lead's latest high-intent event) as it happened and as the desk received it.
    signal_at = models.DateTimeField(null=True, blank=True)
    signal_received_at = models.DateTimeField(null=True, blank=True)

    attempt = models.PositiveIntegerField(default=1)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_attempts"
    )

    created_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    at_risk_flagged_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_late = models.BooleanField(default=False)
    accept_business_minutes = models.FloatField(
        null=True,
        blank=True,
        help_text="Business minutes the accept clock ran before the accept (pauses excluded).",
    )

    # Waiting for marketing: the accept clock is paused with this much business time left.
    paused_at = models.DateTimeField(null=True, blank=True)
    remaining_business_minutes = models.FloatField(null=True, blank=True)
    paused_seconds_total = models.PositiveIntegerField(default=0)
    pause_count = models.PositiveIntegerField(default=0)

    first_touch_due_at = models.DateTimeField(null=True, blank=True)
    first_touch_at_risk_at = models.DateTimeField(null=True, blank=True)
    first_touch_at_risk_flagged_at = models.DateTimeField(null=True, blank=True)
    first_touch_breached_at = models.DateTimeField(null=True, blank=True)
    first_touch_at = models.DateTimeField(null=True, blank=True)
    first_touch_channel = models.CharField(max_length=16, blank=True)

    # The rep's latest question to marketing and marketing's answer (the events keep them all).
    info_question = models.TextField(blank=True)
    info_answer = models.TextField(blank=True)

    qualified_at = models.DateTimeField(null=True, blank=True)
    bant = models.JSONField(default=dict, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    return_reason_code = models.CharField(max_length=50, blank=True)
    return_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # When the SLA outcome became known and whether it was met (see SLA_MET above), computed
    # and stored by the database on every write, so that compliance by week is a range scan of
    # one index (handoff_sla_outcome) rather than a CASE over every row written in the range.
    sla_outcome_at = models.GeneratedField(
        expression=Case(
            When(SLA_MET, then=F("responded_at")),
            When(breached_at__isnull=False, then=F("breached_at")),
            When(SLA_MISSED_UNFLAGGED, then=F("due_at")),
            default=None,
        ),
        output_field=models.DateTimeField(null=True),
        db_persist=True,
    )
    sla_met = models.GeneratedField(
        expression=Case(When(SLA_MET, then=Value(True)), default=Value(False)),
        output_field=models.BooleanField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="handoff_one_open_per_lead",
            )
        ]
        indexes = [
            # The sweep's queries: their cost follows the due rows, not all open handoffs.
            models.Index(
                fields=["due_at"],
                name="handoff_due_open",
                condition=Q(status=Status.PENDING, breached_at__isnull=True),
            ),
            models.Index(
                fields=["at_risk_at"],
                name="handoff_at_risk_open",
                condition=Q(
                    status=Status.PENDING, at_risk_flagged_at__isnull=True, breached_at__isnull=True
                ),
            ),
            models.Index(
                fields=["first_touch_due_at"],
                name="handoff_first_touch_open",
                condition=Q(
                    status=Status.ACCEPTED,
                    first_touch_at__isnull=True,
                    first_touch_breached_at__isnull=True,
                ),
            ),
            models.Index(
                fields=["first_touch_at_risk_at"],
                name="handoff_ft_at_risk_open",
                condition=Q(
                    status=Status.ACCEPTED,
                    first_touch_at__isnull=True,
                    first_touch_breached_at__isnull=True,
                    first_touch_at_risk_flagged_at__isnull=True,
                ),
            ),
            # The SLA metrics read the handoffs written in a date range: every write stamps
            # updated_at, so a range bounded by it is an index-only scan of the recent rows
            # (the rows themselves carry ~2 kB of JSON snapshots each).
            models.Index(
                fields=["updated_at"],
                name="handoff_metrics",
                include=[
                    "id",
                    "created_at",
                    "status",
                    "team",
                    "assigned_to",
                    "lead_source",
                    "due_at",
                    "at_risk_at",
                    "responded_at",
                    "accepted_at",
                    "breached_at",
                    "closed_at",
                    "qualified_at",
                    "paused_seconds_total",
                    "accept_business_minutes",
                    "return_reason_code",
                ],
            ),
            # Compliance by week, team and rep: the outcomes dated in a range (index-only).
            models.Index(
                fields=["sla_outcome_at"],
                name="handoff_sla_outcome",
                include=["team", "assigned_to", "sla_met"],
                condition=Q(sla_outcome_at__isnull=False),
            ),
            # The revenue metrics read the handoffs promoted in a range with their attribution
            # snapshot (pipeline.metrics): an index-only scan instead of the wide rows.
            models.Index(
                fields=["created_at"],
                name="handoff_revenue_cohort",
                include=[
                    "status",
                    "lead_source",
                    "lead_campaign",
                    "score_snapshot",
                    "team",
                    "assigned_to",
                    "qualified_at",
                ],
            ),
            # "Open breaches / at risk now": pending rows by deadline, flagged ones included.
            models.Index(
                fields=["due_at"], name="handoff_pending_due", condition=Q(status=Status.PENDING)
            ),
            models.Index(fields=["assigned_to", "status", "due_at"], name="handoff_rep_queue"),
            models.Index(fields=["team", "created_at"], name="handoff_team_created"),
            models.Index(fields=["created_at"], name="handoff_created"),
            models.Index(fields=["lead", "created_at"], name="handoff_lead_created"),
            models.Index(
                fields=["created_at"],
                name="handoff_signal_created",
                condition=Q(signal_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Handoff #{self.pk} of lead {self.lead_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    # --- its clocks: handoff.clocks computes, these read the columns. `calendar` is the
    # handoff's sla.Calendar (selectors.handoff_calendar, cached) when not given.

    def clock_calendar(self) -> sla.Calendar:
        from handoff.selectors import handoff_calendar  # selectors reads these models

        return handoff_calendar(self)

    def accept_clock(self, now: dt.datetime, calendar: sla.Calendar | None = None) -> clocks.Clock:
        """The accept-or-return clock at `now`: time left (or late by), or how it ended."""
        return clocks.accept_clock(
            status=self.status,
            due_at=self.due_at,
            responded_at=self.responded_at,
            remaining=self.remaining_business_minutes,
            calendar=(lambda: calendar) if calendar is not None else self.clock_calendar,
            now=now,
        )

    def first_touch_clock(
        self, now: dt.datetime, calendar: sla.Calendar | None = None
    ) -> clocks.Clock:
        """The first-touch clock at `now` (it runs once accepted, until the first touch)."""
        return clocks.first_touch_clock(
            status=self.status,
            due_at=self.first_touch_due_at,
            touched_at=self.first_touch_at,
            calendar=(lambda: calendar) if calendar is not None else self.clock_calendar,
            now=now,
        )

    def is_late_at(self, moment: dt.datetime) -> bool:
        """An accept or a return at `moment` would be late (after the deadline)."""
        return clocks.is_late(self.due_at, moment)

    def first_touch_late_at(self, moment: dt.datetime) -> bool:
        return clocks.is_late(self.first_touch_due_at, moment)

    def is_breached(self, now: dt.datetime) -> bool:
        """Flagged by the sweep, or pending at or past its deadline (handoff.filters.breached_q)."""
        return clocks.is_breached(
            status=self.status, due_at=self.due_at, breached_at=self.breached_at, now=now
        )

    def is_at_risk(self, now: dt.datetime) -> bool:
        """Pending past its at-risk point, not yet due (handoff.filters.at_risk_q)."""
        return clocks.is_at_risk(
            status=self.status,
            due_at=self.due_at,
            at_risk_at=self.at_risk_at,
            breached_at=self.breached_at,
            now=now,
        )

    def late_by(
        self, now: dt.datetime, calendar: sla.Calendar | None = None
    ) -> clocks.LateBy | None:
        """How late the accept-or-return answer is (still pending) or was (answered, reassigned
        or escalated after the deadline); None when it was not late."""
        if self.due_at is None:
            return None
        until = clocks.accept_late_until(
            status=self.status,
            paused_at=self.paused_at,
            answered_at=self.responded_at or self.accepted_at or self.closed_at,
            now=now,
        )
        if until is None or until <= self.due_at:
            return None
        return clocks.late_by(
            due_at=self.due_at, until=until, calendar=calendar or self.clock_calendar()
        )

    def first_touch_late_by(
        self, now: dt.datetime, calendar: sla.Calendar | None = None
    ) -> clocks.LateBy | None:
        """How late the first contact is (accepted, none logged yet) or was; None when on time."""
        due = self.first_touch_due_at
        if due is None:
            return None
        until = clocks.first_touch_late_until(
            status=self.status, touched_at=self.first_touch_at, now=now
        )
        if until is None or until <= due:
            return None
        return clocks.late_by(due_at=due, until=until, calendar=calendar or self.clock_calendar())
