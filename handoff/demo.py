"""Demo data for the handoff app (called by `manage.py seed_demo` after leads.demo).

Calendars (US East, EMEA), teams (AMER, EMEA, a catch-all), SLA policies, and about forty
handoffs in every state. The handoffs are made through the services with `now` moved back in
time, step by step in time order, and the real SLA sweep runs at each step's moment, so the
history is what production would have written: breaches dated at their deadlines, at-risk
flags, automatic reassignments. Handoffs still pending past their deadline at the end are left
for the live sweep, which flags them within 30 seconds of `manage.py up`.

Idempotent: calendars, teams and policies are found by name; handoffs are made only when there
are none yet.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable, Generator
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from core.errors import Conflict, RuleViolation
from handoff import services, sla
from handoff.assignment import match_team
from handoff.models import (
    AutoPromotionRule,
    BusinessCalendar,
    CalendarDate,
    Handoff,
    Notification,
    SlaPolicy,
    Team,
    TeamMembership,
    TimeOff,
    WorkingWindow,
)
from handoff.selectors import calendar_for
from handoff.states import OPEN_STATUSES, Status
from leads import services as lead_services
from leads.lifecycle import READY_RE_ENGAGED
from leads.models import Account, Lead, Stage

CALENDARS = {
    # name: (time zone, holiday country, subdivision, windows per working day)
    "US East": ("America/New_York", "US", "NY", [("09:00", "12:00"), ("13:00", "17:30")]),
    "EMEA": ("Europe/London", "GB", "ENG", [("09:00", "12:30"), ("13:30", "17:30")]),
}
TEAMS = [
    # name, calendar, priority, regions, [(rep, weight, capacity)]
    ("AMER", "US East", 10, ["AMER"], [("sam", 2, 8), ("rita", 1, 6), ("raj", 1, 6)]),
    ("EMEA", "EMEA", 20, ["EMEA"], [("elena", 1, 6), ("tom", 1, 6)]),
    ("Global", "US East", 1000, [], [("raj", 1, 6), ("tom", 1, 6)]),
]
ONE_BUSINESS_DAY = 450  # 7.5 business hours: both demo calendars work 7.5 hours a day
POLICIES = [
    {
        "name": "Hot: demo or pricing request",
        "requires_high_intent": True,
        "precedence": 10,
        "accept_within_minutes": 15,
        "first_touch_within_minutes": ONE_BUSINESS_DAY,
        "skip_reps_off_hours": True,
        "reassign_on_breach": True,
        "max_reassignments": 2,
    },
    {
        "name": "High score",
        "min_score": 80,
        "precedence": 20,
        "accept_within_minutes": 60,
        "first_touch_within_minutes": ONE_BUSINESS_DAY,
    },
    {
        "name": "Standard",
        "precedence": 100,
        "accept_within_minutes": 240,
        "first_touch_within_minutes": ONE_BUSINESS_DAY,
    },
]
# The feedback app's default reasons (feedback.taxonomy): code -> (lead effect, cooldown days,
# a note). The feedback demo attaches its ReturnFeedback rows to these returns.
RETURNS = {
    "not-icp": ("disqualify", 0, "Agency reselling to one client; not a buyer."),
    "no-budget": ("recycle", 90, "Budget frozen until next fiscal year."),
    "not-ready": ("recycle", 60, "Evaluating in two quarters."),
    "bad-data": ("recycle", 14, "Phone number bounces, email is a role address."),
    "duplicate": ("disqualify", 0, "Same person as an open opportunity."),
}
BANT = [
    {"budget": "Approved, ~$40k/yr", "authority": "VP Sales signs", "need": "Leads wait days "
     "for a first call", "timeline": "Live this quarter"},
    {"budget": "$25k set aside", "authority": "Head of RevOps with CFO", "need": "No SLA "
     "visibility across teams", "timeline": "Decision in 6 weeks"},
    {"budget": "Pending, likely yes", "authority": "CRO", "need": "Routing by region is "
     "manual", "timeline": "Pilot next month"},
]  # fmt: skip
QUESTIONS = [
    "Which product line did they ask about on the demo form?",
    "Is this the same company as the existing account in Toronto?",
    "Do we know the team size? The form says 1-10 but the title says VP.",
]
NOTES = [
    "Visited pricing three times this week and asked for a demo.",
    "Webinar attendee, downloaded the ROI guide, strong fit.",
    "Came through a partner referral; wants a call before Friday.",
    "Downloaded the security whitepaper and asked about single sign-on.",
]

Step = tuple[dt.datetime, Callable[[dt.datetime], Any]]
Scenario = Generator[Step, Any, None]


def seed(
    *,
    rng: random.Random,
    now: dt.datetime,
    users: dict[str, Any],
    lead_count: int = 0,
    stdout: Any = None,
    **_: Any,
) -> None:
    with transaction.atomic():
        calendars = _calendars()
        teams = _teams(calendars, users)
        policies = _policies()
        if Handoff.objects.exists():
            _auto_rules()
            _say(stdout, f"Handoffs: {Handoff.objects.count()} already there; setup kept.")
            return
        made = _Story(rng=rng, now=now, users=users).play()
        _time_off(users, now)
        _account_owners(users)
        _re_engage_one(now)
        # The owners' re-engaged notices (leads, not handoffs) are history too.
        Notification.objects.filter(
            kind=Notification.Kind.RE_ENGAGED, sent_at__isnull=True, created_at__lte=now
        ).update(sent_at=F("created_at"), attempts=1)
        # After the story: its recorded events are history, not fresh signals to act on.
        _auto_rules()
    by_status = {
        s: Handoff.objects.filter(status=s).count() for s in Status.values
    }  # fmt: skip
    _say(
        stdout,
        f"Handoffs: {made} made ({', '.join(f'{n} {s}' for s, n in by_status.items() if n)}); "
        f"{len(calendars)} calendars, {len(teams)} teams, {len(policies)} SLA policies.",
    )


DEMO_AUTO_RULE = {
    "name": "Demo request: straight to sales",
    "active": True,
    "event_kinds": ["demo_request", "contact_form"],
    "within_minutes": 60,
    "max_per_hour": 30,
    "order": 10,
}


def _auto_rules() -> None:
    """The one active auto-promotion rule the demo ships: a demo request or contact form sent
    within the hour goes to a rep at once (at most 30 an hour)."""
    AutoPromotionRule.objects.get_or_create(name=DEMO_AUTO_RULE["name"], defaults=DEMO_AUTO_RULE)


def _time_off(users: dict[str, Any], now: dt.datetime) -> None:
    """Tom is at a conference this week: routing skips him, the manager queue lists him."""
    tom = users.get("tom")
    if tom is None or TimeOff.objects.filter(rep=tom).exists():
        return
    today = timezone.localdate(now)
    TimeOff.objects.create(
        rep=tom, starts_on=today, ends_on=today + dt.timedelta(days=4), note="Sales conference"
    )


def _account_owners(users: dict[str, Any]) -> None:
    """The three biggest accounts get an owner rep, and every team prefers account owners from
    now on (set after the story, so the story's rotation stays as it was)."""
    if Account.objects.filter(owner__isnull=False).exists():
        return
    reps = [users[name] for name in ("sam", "rita", "raj") if name in users]
    biggest = (
        Account.objects.filter(merged_into__isnull=True)
        .annotate(n=Count("leads"))
        .order_by("-n", "domain")[: len(reps)]
    )
    for account, rep in zip(list(biggest), reps, strict=False):
        Account.objects.filter(pk=account.pk).update(owner=rep)
    Team.objects.update(route_to_account_owner=True)


def _re_engage_one(now: dt.datetime) -> None:
    """One returned lead, still in its cooldown, asks for a demo again: re-engaged after
    return, first in the marketers' ready list."""
    if Lead.objects.filter(ready_reason=READY_RE_ENGAGED).exists():
        return
    lead = (
        Lead.objects.filter(stage=Stage.RECYCLED, recycle_until__gt=now)
        .order_by("-recycled_at", "id")
        .first()
    )
    if lead is not None:
        lead_services.event_record(
            lead=lead,
            kind="demo_request",
            occurred_at=now - dt.timedelta(minutes=20),
            payload={"demo": True},
            external_id="demo-re-engaged",
            now=now,
        )


def _say(stdout: Any, text: str) -> None:
    if stdout is not None:
        stdout.write(text)


# --- setup ------------------------------------------------------------------------------------


def _calendars() -> dict[str, BusinessCalendar]:
    found = {}
    for name, (tz, country, subdivision, windows) in CALENDARS.items():
        calendar, created = BusinessCalendar.objects.get_or_create(
            name=name,
            defaults={
                "timezone": tz,
                "holiday_country": country,
                "holiday_subdivision": subdivision,
            },
        )
        if created:
            WorkingWindow.objects.bulk_create(
                WorkingWindow(
                    calendar=calendar,
                    weekday=day,
                    start=dt.time.fromisoformat(start),
                    end=dt.time.fromisoformat(end),
                )
                for day in range(5)
                for start, end in windows
            )
            if name == "EMEA":
                # The company offsite: a closed working day the holiday package cannot know.
                CalendarDate.objects.create(
                    calendar=calendar,
                    date=dt.date(2027, 3, 12),
                    kind=CalendarDate.Kind.CLOSED,
                    note="Company offsite",
                )
            services.calendar_touch(calendar=calendar)
        found[name] = calendar
    return found


def _teams(calendars: dict[str, BusinessCalendar], users: dict[str, Any]) -> list[Team]:
    teams = []
    for name, calendar_name, priority, regions, members in TEAMS:
        team, _ = Team.objects.get_or_create(
            name=name,
            defaults={
                "calendar": calendars[calendar_name],
                "priority": priority,
                "match_regions": regions,
                "manager": users.get("nina"),
            },
        )
        for position, (username, weight, capacity) in enumerate(members):
            if username in users:
                TeamMembership.objects.get_or_create(
                    team=team,
                    rep=users[username],
                    defaults={"position": position, "weight": weight, "capacity": capacity},
                )
        teams.append(team)
    return teams


def _policies() -> list[SlaPolicy]:
    return [
        SlaPolicy.objects.get_or_create(name=spec["name"], defaults=spec)[0] for spec in POLICIES
    ]


# --- the story --------------------------------------------------------------------------------


class _Story:
    """Scenarios are generators yielding (when, action); they are played in time order across
    all handoffs, with the SLA sweep run at each step's moment."""

    def __init__(self, *, rng: random.Random, now: dt.datetime, users: dict[str, Any]) -> None:
        self.rng = rng
        self.now = now
        self.users = users
        self.manager = users.get("nina")
        self.marketers = [users[n] for n in ("maria", "mark") if n in users]
        self.used: set[int] = set()
        self.made: list[int] = []

    def play(self) -> int:
        if not self.marketers or self.manager is None:
            return 0
        plan: list[tuple[str, int, float, float]] = [
            # scenario, how many, promoted between (hours ago) min and max; all but the fresh
            # ones are moved into the team's working hours, as marketers promote at work
            ("fresh", 6, 0.05, 0.8),
            ("pending", 5, 48, 144),  # long overdue: breached
            ("waiting", 3, 3, 48),
            ("resumed", 2, 24, 96),
            ("accepted", 5, 6, 72),
            ("touched", 4, 48, 240),
            ("qualified", 6, 120, 600),
            ("returned", 6, 72, 600),
            ("reassigned", 3, 24, 240),
        ]
        order = itertools.count()
        heap: list[tuple[dt.datetime, int, Scenario, Callable[[dt.datetime], Any]]] = []
        for kind, count, low, high in plan:
            for _ in range(count):
                start = self.now - dt.timedelta(hours=self.rng.uniform(low, high))
                lead = self._lead(before=start)
                if lead is None:
                    continue
                if kind != "fresh":
                    start = self._working_moment(lead, start)
                scenario = getattr(self, f"_{kind}")(lead, start)
                when, action = next(scenario)
                heapq.heappush(heap, (when, next(order), scenario, action))
        from handoff.sweep import sla_sweep

        while heap:
            when, _, scenario, action = heapq.heappop(heap)
            sla_sweep(now=when)
            result = action(when)
            try:
                nxt, nxt_action = scenario.send(result)
            except StopIteration:
                continue
            heapq.heappush(heap, (max(nxt, when), next(order), scenario, nxt_action))
        # The story is history: its emails went out when it happened.
        Notification.objects.filter(handoff_id__in=self._all_ids(), sent_at__isnull=True).update(
            sent_at=F("created_at"), attempts=1
        )
        return len(self._all_ids())

    def _all_ids(self) -> list[int]:
        return list(Handoff.objects.filter(lead_id__in=self.used).values_list("id", flat=True))

    # helpers -----------------------------------------------------------------------------

    def _working_moment(self, lead: Lead, moment: dt.datetime) -> dt.datetime:
        """The latest moment at or before `moment` inside the working hours of the team that
        takes the lead (or `moment` itself when none is found within two weeks)."""
        try:
            team, _ = match_team(lead=lead)
        except RuleViolation:
            return moment
        calendar = calendar_for(team.calendar)
        probe = moment
        for _ in range(14 * 48):
            if sla.is_business_time(probe, calendar):
                return probe
            probe -= dt.timedelta(minutes=30)
        return moment

    def _lead(self, *, before: dt.datetime) -> Lead | None:
        # The better half of the promotable leads, as marketing promotes its best.
        candidates = (
            Lead.objects.filter(stage__in=(Stage.LEAD, Stage.MQL), created_at__lt=before)
            .exclude(pk__in=self.used)
            .order_by("-score", "id")[:60]
        )
        pool = list(candidates)
        if not pool:
            return None
        lead = self.rng.choice(pool)
        self.used.add(lead.pk)
        return lead

    def _at(self, start: dt.datetime, end: dt.datetime, low: float, high: float) -> dt.datetime:
        """A moment between start and end (by share of the span), never in the future."""
        moment = start + (end - start) * self.rng.uniform(low, high)
        return min(moment, self.now - dt.timedelta(minutes=1))

    def _open(self, lead: Lead) -> Handoff | None:
        return (
            Handoff.objects.filter(lead=lead, status__in=OPEN_STATUSES)
            .select_related("lead", "team", "calendar", "assigned_to", "promoted_by")
            .first()
        )

    def _with_rep(self, lead: Lead, now: dt.datetime) -> Handoff | None:
        """The lead's open handoff, handed to a rep first if it waits in the manager's queue."""
        handoff = self._open(lead)
        if handoff is None or handoff.assigned_to_id is not None or handoff.team_id is None:
            return handoff
        members = list(
            TeamMembership.objects.filter(team_id=handoff.team_id, active=True).select_related(
                "rep"
            )
        )
        if not members:
            return handoff
        return services.handoff_reassign(
            handoff=handoff,
            actor=self.manager,
            to_rep=self.rng.choice(members).rep,
            reason="assigned from the manager's queue",
            now=now,
        )

    def _promote(self, lead: Lead) -> Callable[[dt.datetime], Handoff]:
        promoter = lead.owner if lead.owner in self.marketers else self.rng.choice(self.marketers)

        def act(now: dt.datetime) -> Handoff:
            return services.handoff_promote(
                lead=lead, actor=promoter, note=self.rng.choice(NOTES), now=now
            )

        return act

    def _act(self, lead: Lead, do: Callable[[Handoff, Any, dt.datetime], Any]) -> Callable[[dt.datetime], Any]:  # fmt: skip
        def act(now: dt.datetime) -> Any:
            handoff = self._with_rep(lead, now)
            if handoff is None:
                return None
            return do(handoff, handoff.assigned_to, now)

        return act

    def _accept(self, lead: Lead) -> Callable[[dt.datetime], Any]:
        def do(h: Handoff, rep: Any, now: dt.datetime) -> Any:
            if h.status != Status.PENDING:
                return h
            return services.handoff_accept(handoff=h, actor=rep, now=now)

        return self._act(lead, do)

    def _accept_time(self, h: Handoff, start: dt.datetime, *, late: bool) -> dt.datetime:
        due = h.due_at or start + dt.timedelta(hours=1)
        if late:
            return min(due + dt.timedelta(minutes=self.rng.uniform(20, 300)), self._latest())
        return self._at(h.created_at, due, 0.15, 0.85)

    def _latest(self) -> dt.datetime:
        return self.now - dt.timedelta(minutes=1)

    # scenarios ---------------------------------------------------------------------------

    def _fresh(self, lead: Lead, start: dt.datetime) -> Scenario:
        yield start, self._promote(lead)

    def _pending(self, lead: Lead, start: dt.datetime) -> Scenario:
        yield start, self._promote(lead)

    def _waiting(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        question = self.rng.choice(QUESTIONS)
        yield (
            self._at(h.created_at, h.due_at or self.now, 0.1, 0.5),
            self._act(lead, lambda h, rep, now: services.handoff_request_info(
                handoff=h, actor=rep, question=question, now=now)),
        )  # fmt: skip

    def _resumed(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        asked_at = self._at(h.created_at, h.due_at or self.now, 0.1, 0.5)
        yield asked_at, self._act(lead, lambda h, rep, now: services.handoff_request_info(
            handoff=h, actor=rep, question=self.rng.choice(QUESTIONS), now=now))  # fmt: skip
        answer_at = self._at(asked_at, self.now, 0.1, 0.4)
        yield answer_at, self._act(lead, lambda h, rep, now: services.handoff_provide_info(
            handoff=h, actor=h.promoted_by, answer="Checked: see the note on the lead.",
            now=now))  # fmt: skip

    def _accepted(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        late = self.rng.random() < 0.3
        yield self._accept_time(h, start, late=late), self._accept(lead)

    def _touched(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        accepted: Handoff = yield self._accept_time(h, start, late=self.rng.random() < 0.25), self._accept(lead)  # fmt: skip
        if accepted is None or accepted.status != Status.ACCEPTED:
            return
        touch_at = self._at(
            accepted.accepted_at or start, accepted.first_touch_due_at or self.now, 0.1, 1.2
        )
        channel = self.rng.choice(["call", "email", "meeting"])
        yield touch_at, self._act(lead, lambda h, rep, now: services.handoff_log_first_touch(
            handoff=h, actor=rep, channel=channel, note="Introductory call booked", now=now))  # fmt: skip

    def _qualified(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        accepted: Handoff = yield self._accept_time(h, start, late=self.rng.random() < 0.2), self._accept(lead)  # fmt: skip
        if accepted is None or accepted.status != Status.ACCEPTED:
            return
        touch_at = self._at(
            accepted.accepted_at or start, accepted.first_touch_due_at or self.now, 0.1, 0.9
        )
        yield touch_at, self._act(lead, lambda h, rep, now: services.handoff_log_first_touch(
            handoff=h, actor=rep, channel="call", note="Discovery call", now=now))  # fmt: skip
        qualify_at = self._at(touch_at, self.now, 0.05, 0.3)
        bant = self.rng.choice(BANT)
        yield qualify_at, self._act(lead, lambda h, rep, now: services.handoff_qualify(
            handoff=h, actor=rep, bant=bant, note="Good fit, moving to opportunity", now=now))  # fmt: skip

    def _returned(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        code = self.rng.choice(sorted(RETURNS))
        effect, days, note = RETURNS[code]
        when = self._at(h.created_at, h.due_at or self.now, 0.2, 0.9)
        if self.rng.random() < 0.5:
            accepted: Handoff = yield when, self._accept(lead)
            if accepted is None:
                return
            when = self._at(when, self.now, 0.05, 0.3)

        def do(h: Handoff, rep: Any, now: dt.datetime) -> Any:
            return services.handoff_return(
                handoff=h, actor=rep, reason_code=code, note=note, lead_effect=effect,
                recycle_until=now + dt.timedelta(days=days) if effect == "recycle" else None,
                now=now,
            )  # fmt: skip

        yield when, self._act(lead, do)

    def _reassigned(self, lead: Lead, start: dt.datetime) -> Scenario:
        h: Handoff = yield start, self._promote(lead)
        when = self._at(h.created_at, h.due_at or self.now, 0.5, 0.95)

        def do(h: Handoff, rep: Any, now: dt.datetime) -> Any:
            if h.status != Status.PENDING:
                return h
            reason = f"{rep.first_name or rep} is out sick"
            try:
                return services.handoff_reassign(
                    handoff=h, actor=self.manager, reason=reason, now=now
                )
            except Conflict as exc:
                if exc.code != "nobody_available":
                    raise
                h = Handoff.objects.get(pk=h.pk)  # the refused attempt changed nothing
            # Nobody in the rotation is at work now: the manager picks a teammate by name.
            if h.team_id is None:
                return h
            mate = (
                TeamMembership.objects.filter(team_id=h.team_id, active=True, rep__is_active=True)
                .exclude(rep_id=h.assigned_to_id)
                .select_related("rep")
                .order_by("rep__username")
                .first()
            )
            if mate is None:
                return h
            return services.handoff_reassign(
                handoff=h, actor=self.manager, to_rep=mate.rep, reason=reason, now=now
            )

        new: Handoff = yield when, self._act(lead, do)
        if new is not None and self.rng.random() < 0.6:
            yield self._accept_time(new, when, late=False), self._accept(lead)
