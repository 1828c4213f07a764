"""The demo's people and teams: business calendars (US East, EMEA), teams with their reps, SLA
policies, a rep's time off, account owners, and marketing's one auto-promotion rule. Each is
found by name (or checked for) before it is made."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from core.types import Actor
from handoff import services
from handoff.models import (
    AutoPromotionRule,
    BusinessCalendar,
    CalendarDate,
    SlaPolicy,
    Team,
    TeamMembership,
    TimeOff,
    WorkingWindow,
)
from leads.models import Account

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


DEMO_AUTO_RULE = {
    "name": "Demo request: straight to sales",
    "active": True,
    "event_kinds": ["demo_request", "contact_form"],
    "within_minutes": 60,
    "max_per_hour": 30,
    "order": 10,
}


def seed_auto_rule() -> None:
    """The one active auto-promotion rule the demo ships: a demo request or contact form sent
    within the hour goes to a rep at once (at most 30 an hour)."""
    AutoPromotionRule.objects.get_or_create(name=DEMO_AUTO_RULE["name"], defaults=DEMO_AUTO_RULE)


def seed_time_off(users: dict[str, Actor], now: dt.datetime) -> None:
    """Tom is at a conference this week: routing skips him, the manager queue lists him."""
    tom = users.get("tom")
    if tom is None or TimeOff.objects.filter(rep=tom).exists():
        return
    today = timezone.localdate(now)
    TimeOff.objects.create(
        rep=tom, starts_on=today, ends_on=today + dt.timedelta(days=4), note="Sales conference"
    )


def seed_account_owners(users: dict[str, Actor]) -> None:
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


def seed_calendars() -> dict[str, BusinessCalendar]:
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


def seed_teams(calendars: dict[str, BusinessCalendar], users: dict[str, Actor]) -> list[Team]:
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


def seed_policies() -> list[SlaPolicy]:
    return [
        SlaPolicy.objects.get_or_create(name=spec["name"], defaults=spec)[0] for spec in POLICIES
    ]
