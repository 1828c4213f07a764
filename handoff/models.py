"""Handoffs to sales, the calendars and policies that time them, and the teams that take them."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When

from handoff.states import OPEN_STATUSES, Status
from leads.history import AuditRecords
from leads.models import Campaign, Lead, Source


class BusinessCalendar(models.Model):
    """When a team works: weekly windows in a time zone, minus holidays and closed dates."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA zone, e.g. Europe/Paris"
    )
    holiday_country = models.CharField(
        max_length=3, blank=True, help_text="Public holidays from the `holidays` package, e.g. US"
    )
    holiday_subdivision = models.CharField(
        max_length=10, blank=True, help_text="e.g. CA for California"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkingWindow(models.Model):
    """One working window on a weekday. `end` 00:00 means midnight at the end of that day."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField(
        choices=[(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"),
                 (4, "Friday"), (5, "Saturday"), (6, "Sunday")]
    )  # fmt: skip
    start = models.TimeField()
    end = models.TimeField()
    history = AuditRecords()

    class Meta:
        ordering = ["calendar", "weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class CalendarDate(models.Model):
    """A custom closed date (company offsite), or an extra working date (a Saturday launch)."""

    class Kind(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Extra working day"

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="special_dates"
    )
    date = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CLOSED)
    # For an extra working day: its hours (default 09:00-17:00).
    start = models.TimeField(null=True, blank=True)
    end = models.TimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    history = AuditRecords()

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_date_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"


class Team(models.Model):
    """A team of reps, which leads it takes, and where its round-robin rotation stands."""

    name = models.CharField(max_length=100, unique=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="teams")
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    # Matching rules: an empty list / null bound matches anything.
    match_regions = models.JSONField(default=list, blank=True, help_text='e.g. ["EMEA"]')
    match_countries = models.JSONField(default=list, blank=True, help_text='e.g. ["FR", "DE"]')
    match_industries = models.JSONField(default=list, blank=True)
    match_employee_bands = models.JSONField(default=list, blank=True)
    match_min_score = models.IntegerField(null=True, blank=True)
    match_max_score = models.IntegerField(null=True, blank=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Teams are tried in this order (lowest first)."
    )
    active = models.BooleanField(default=True)
    route_to_account_owner = models.BooleanField(
        default=False,
        help_text="A lead whose account has an owner in this team goes to that owner first "
        "(when they are in, not on time off and below capacity), before the rotation.",
    )
    # The rotation state: row-locked while a promotion picks the next rep.
    rotation_position = models.PositiveIntegerField(default=0)
    # (Not the rotation: it moves with every assignment, and handoff events record those.)
    history = AuditRecords(excluded_fields=["rotation_position"])

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    capacity = models.PositiveIntegerField(default=10, help_text="Most open pending handoffs.")
    weight = models.PositiveIntegerField(default=1, help_text="Turns per rotation cycle.")
    position = models.PositiveIntegerField(default=0)
    is_away = models.BooleanField(default=False)
    # The rep's own working hours; empty means the team's calendar.
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    history = AuditRecords()

    class Meta:
        ordering = ["team", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "rep"], name="membership_team_rep_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rep} in {self.team}"


class TimeOff(models.Model):
    """A rep's days off (both ends included): routing skips the rep on those days."""

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="time_off"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_on", "id"]
        verbose_name = "time off"
        verbose_name_plural = "time off"
        indexes = [models.Index(fields=["rep", "ends_on"], name="timeoff_rep_ends")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="timeoff_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rep} off {self.starts_on}..{self.ends_on}"

    def covers(self, day: dt.date) -> bool:
        return self.starts_on <= day <= self.ends_on


class SlaPolicy(models.Model):
    """How fast sales must answer a handoff it covers, and what happens when it does not."""

    name = models.CharField(max_length=100, unique=True)
    # Bumped on every edit; the handoff keeps a snapshot, so editing never rewrites history.
    version = models.PositiveIntegerField(default=1)
    # Matching: empty / null matches anything.
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="policies"
    )
    min_score = models.IntegerField(null=True, blank=True)
    max_score = models.IntegerField(null=True, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text=f"Any of {Source.values}")
    requires_high_intent = models.BooleanField(
        default=False, help_text="Covers only leads with a recent high-intent event (demo...)."
    )
    requires_pql = models.BooleanField(
        default=False, help_text="Covers only product-qualified leads (PQLs)."
    )
    precedence = models.PositiveIntegerField(
        default=100, help_text="When several policies match, the lowest precedence wins."
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: the team's calendar.",
    )
    accept_within_minutes = models.PositiveIntegerField(help_text="Business minutes.")
    first_touch_within_minutes = models.PositiveIntegerField(help_text="Business minutes.")
    at_risk_ratio = models.FloatField(default=0.75, help_text="Warn when this share has elapsed.")
    notify_manager_on_breach = models.BooleanField(default=True)
    reassign_on_breach = models.BooleanField(default=False)
    max_reassignments = models.PositiveIntegerField(default=2)
    # A tight policy only assigns reps who are inside their working hours right now.
    skip_reps_off_hours = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["precedence", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


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


class HandoffEvent(models.Model):
    """Append-only: what happened to a handoff, who did it and when. `id` is the sequence."""

    class Kind(models.TextChoices):
        CREATED = "created", "Promoted"
        TRANSITION = "transition", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Sent to the manager's queue"
        AT_RISK = "at_risk", "At risk"
        BREACHED = "breached", "SLA breached"
        FIRST_TOUCH_AT_RISK = "first_touch_at_risk", "First touch at risk"
        FIRST_TOUCH_BREACHED = "first_touch_breached", "First touch overdue"
        FIRST_TOUCH = "first_touch", "First touch logged"
        ESCALATED = "escalated", "Escalated to the manager"

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["handoff", "id"], name="handoffevent_handoff_seq")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """The notification outbox: written in the transaction that caused it, sent by a task,
    marked sent only after the send succeeded, retried with backoff."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "New handoff assigned"
        AT_RISK = "at_risk", "Handoff at risk"
        BREACHED = "breached", "SLA breached"
        FIRST_TOUCH_AT_RISK = "first_touch_at_risk", "First touch at risk"
        FIRST_TOUCH_BREACHED = "first_touch_breached", "First touch overdue"
        UNASSIGNED = "unassigned", "Handoff needs an owner"
        INFO_REQUESTED = "info_requested", "Sales asked for information"
        INFO_PROVIDED = "info_provided", "Marketing answered"
        RETURNED = "returned", "Lead returned to marketing"
        DISPUTED = "disputed", "Marketing disputed a return"
        DISPUTE_RESOLVED = "dispute_resolved", "A disputed return was resolved"
        RE_ENGAGED = "re_engaged", "Lead re-engaged after return"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.ForeignKey(
        HandoffEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One message per event and recipient: a sweep run twice cannot notify twice.
            models.UniqueConstraint(
                fields=["event", "recipient", "kind"], name="notification_once_per_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_unsent",
                condition=Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_email}"


class AutoPromotionRule(models.Model):
    """When the system promotes a lead by itself, the moment a qualifying event arrives.

    Data that marketing edits (admin, /api/scoring/auto-promotion/). A lead matches when an
    event of one of `event_kinds` arrives within `within_minutes` of its `occurred_at`, and
    every other condition set here holds (an empty list or a null bound matches anything).
    """

    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    event_kinds = models.JSONField(
        default=list, help_text='Any of these arriving triggers the rule, e.g. ["demo_request"].'
    )
    within_minutes = models.PositiveIntegerField(
        default=60,
        help_text="The event must have happened at most this many minutes before it arrived.",
    )
    min_score = models.IntegerField(null=True, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text=f"Any of {Source.values}")
    campaigns = models.ManyToManyField(Campaign, blank=True, related_name="+")
    fit_rules = models.ManyToManyField(
        "leads.FitRule",
        blank=True,
        related_name="+",
        help_text="Fit rules that must all match the lead (their points do not matter).",
    )
    requires_pql = models.BooleanField(
        default=False,
        help_text="Only product-qualified leads (a PQL criterion met when the event arrives).",
    )
    hold_outside_hours = models.BooleanField(
        default=False,
        help_text="Outside the target team's working hours, wait for the next window to open.",
    )
    max_per_hour = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many promotions by this rule in any hour; the rest wait for "
        "a marketer, flagged.",
    )
    order = models.PositiveIntegerField(default=100, help_text="Rules are tried lowest first.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({'on' if self.active else 'off'})"


class AutoPromotion(models.Model):
    """One firing of an auto-promotion rule for a lead, and what came of it (the log that
    marketers read: promoted, already promoted, held for working hours, over the ceiling...)."""

    class Outcome(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        ALREADY = "already_promoted", "Already promoted"
        BLOCKED = "blocked", "Blocked by a promotion guard"
        HELD = "held", "Held until working hours"
        OVER_CEILING = "over_ceiling", "Over the hourly ceiling: waits for a marketer"
        FAILED = "failed", "Could not be routed"

    rule = models.ForeignKey(
        AutoPromotionRule, null=True, on_delete=models.SET_NULL, related_name="firings"
    )
    rule_name = models.CharField(max_length=100)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_kind = models.CharField(max_length=32)
    signal_at = models.DateTimeField(help_text="When the triggering event happened.")
    received_at = models.DateTimeField(help_text="When the desk received it.")
    created_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    code = models.CharField(max_length=50, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "created_at"], name="autopromo_lead"),
            # The hourly ceiling: promotions by a rule, by when they went out.
            models.Index(fields=["rule", "outcome", "resolved_at"], name="autopromo_rule_outcome"),
            models.Index(
                fields=["release_at"],
                name="autopromo_held",
                condition=Q(outcome="held", resolved_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name}: lead {self.lead_id} {self.outcome}"


# The dashboard rollup (handoff.rollup keeps it).
from handoff.rollup_models import DashboardDay, DashboardRefresh  # noqa: E402, F401
