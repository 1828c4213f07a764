"""factory-boy factories for every app's models. Append new ones at the end of a section."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from feedback.models import RejectionReason, ReturnFeedback
from handoff.models import BusinessCalendar, Handoff, SlaPolicy, Team, TeamMembership, WorkingWindow
from handoff.states import Status
from leads.models import (
    Campaign,
    EngagementEvent,
    EngagementRule,
    EventKind,
    FitRule,
    Lead,
    Source,
)

# --- users -------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pass-1234-word")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


# --- leads -------------------------------------------------------------------------------


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Source.PAID_SEARCH


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@acme{n % 7}.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    domain = factory.LazyAttribute(lambda o: o.email.split("@", 1)[1])
    industry = "software"
    employee_band = "201-500"
    country = "US"
    source = Source.PAID_SEARCH


class EngagementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    lead = factory.SubFactory(LeadFactory)
    kind = EventKind.PAGE_VIEW
    occurred_at = factory.LazyFunction(timezone.now)


class FitRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FitRule

    name = factory.Sequence(lambda n: f"Fit rule {n}")
    field = FitRule.Field.INDUSTRY
    operator = FitRule.Operator.IN
    value = factory.LazyFunction(lambda: ["software"])
    points = 15


class EngagementRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementRule
        django_get_or_create = ("kind",)

    kind = EventKind.PAGE_VIEW
    points = 2
    max_events = 5


# --- handoff -----------------------------------------------------------------------------


class BusinessCalendarFactory(factory.django.DjangoModelFactory):
    """Monday to Friday, 09:00-17:00, New York, no holidays unless asked."""

    class Meta:
        model = BusinessCalendar
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Calendar {n}")
    timezone = "America/New_York"

    @factory.post_generation
    def windows(self, create, extracted, **kwargs):
        if not create:
            return
        spans = extracted if extracted is not None else [(d, "09:00", "17:00") for d in range(5)]
        for weekday, start, end in spans:
            WorkingWindow.objects.create(
                calendar=self,
                weekday=weekday,
                start=dt.time.fromisoformat(start),
                end=dt.time.fromisoformat(end),
            )


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    calendar = factory.SubFactory(BusinessCalendarFactory)


class TeamMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMembership

    team = factory.SubFactory(TeamFactory)
    rep = factory.SubFactory(UserFactory)
    position = factory.Sequence(lambda n: n)


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")
    accept_within_minutes = 240
    first_touch_within_minutes = 480


class HandoffFactory(factory.django.DjangoModelFactory):
    """A bare row for read-side tests; flows that matter go through handoff.services."""

    class Meta:
        model = Handoff

    lead = factory.SubFactory(LeadFactory, stage="mql")
    status = Status.PENDING
    created_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(lambda o: o.created_at + dt.timedelta(hours=4))


# --- feedback ----------------------------------------------------------------------------


class RejectionReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RejectionReason
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"reason-{n}")
    label = factory.LazyAttribute(lambda o: o.code.replace("-", " ").capitalize())
    category = RejectionReason.Category.FIT


class ReturnFeedbackFactory(factory.django.DjangoModelFactory):
    """A bare returned handoff with its feedback row, for read-side and marketing-side tests;
    returns that matter go through feedback.services.feedback_return_handoff."""

    class Meta:
        model = ReturnFeedback

    handoff = factory.SubFactory(
        HandoffFactory,
        status=Status.RETURNED,
        lead__stage="recycled",
        lead_source=factory.SelfAttribute("lead.source"),
        lead_campaign=factory.SelfAttribute("lead.campaign"),
        return_reason_code=factory.SelfAttribute("..reason.code"),
    )
    lead = factory.LazyAttribute(lambda o: o.handoff.lead)
    reason = factory.SubFactory(RejectionReasonFactory)
    returned_at = factory.LazyAttribute(lambda o: o.handoff.created_at + dt.timedelta(hours=1))
    lead_effect = RejectionReason.Effect.RECYCLE
