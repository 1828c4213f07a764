"""The choices a lead's fields take (stages, sources, seniority, bands, event kinds) and the
tables derived from them."""

from __future__ import annotations

from django.db import models


class Stage(models.TextChoices):
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    RECYCLED = "recycled", "Recycled"
    DISQUALIFIED = "disqualified", "Disqualified"


# The stages marketing may promote a lead from (a recycled lead after its cooldown); the pages
# offer "Promote to sales" for these and handoff_promote refuses the others.
PROMOTABLE_STAGES = frozenset({Stage.LEAD, Stage.MQL, Stage.RECYCLED})


# The stage -> timestamp field recording when a lead first reached it.
STAGE_REACHED_FIELD = {
    Stage.MQL: "mql_at",
    Stage.SAL: "sal_at",
    Stage.SQL: "sql_at",
    Stage.OPPORTUNITY: "opportunity_at",
    Stage.CUSTOMER: "customer_at",
    Stage.RECYCLED: "recycled_at",
    Stage.DISQUALIFIED: "disqualified_at",
}


class Source(models.TextChoices):
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    PAID_SOCIAL = "paid_social", "Paid social"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    EMAIL = "email", "Email"
    WEBINAR = "webinar", "Webinar"
    EVENT = "event", "Event"
    CONTENT = "content", "Content syndication"
    REFERRAL = "referral", "Referral"
    PARTNER = "partner", "Partner"
    DIRECT = "direct", "Direct"
    PRODUCT = "product", "Product sign-up"
    OTHER = "other", "Other"


class Seniority(models.TextChoices):
    UNKNOWN = "", "Unknown"
    INDIVIDUAL = "individual", "Individual contributor"
    MANAGER = "manager", "Manager"
    DIRECTOR = "director", "Director"
    VP = "vp", "VP"
    C_LEVEL = "c_level", "C-level"


class EmployeeBand(models.TextChoices):
    UNKNOWN = "", "Unknown"
    B1_10 = "1-10", "1-10"
    B11_50 = "11-50", "11-50"
    B51_200 = "51-200", "51-200"
    B201_500 = "201-500", "201-500"
    B501_1000 = "501-1000", "501-1000"
    B1001_5000 = "1001-5000", "1001-5000"
    B5001_PLUS = "5001+", "5001+"


# Lower bound of each band, so that rules like "employee band >= 200" compare numbers.
EMPLOYEE_BAND_MIN = {
    EmployeeBand.UNKNOWN: 0,
    EmployeeBand.B1_10: 1,
    EmployeeBand.B11_50: 11,
    EmployeeBand.B51_200: 51,
    EmployeeBand.B201_500: 201,
    EmployeeBand.B501_1000: 501,
    EmployeeBand.B1001_5000: 1001,
    EmployeeBand.B5001_PLUS: 5001,
}

SENIORITY_RANK = {
    Seniority.UNKNOWN: 0,
    Seniority.INDIVIDUAL: 1,
    Seniority.MANAGER: 2,
    Seniority.DIRECTOR: 3,
    Seniority.VP: 4,
    Seniority.C_LEVEL: 5,
}


class EventKind(models.TextChoices):
    EMAIL_OPEN = "email_open", "Email opened"
    EMAIL_CLICK = "email_click", "Email link clicked"
    PAGE_VIEW = "page_view", "Page viewed"
    CONTENT_DOWNLOAD = "content_download", "Content downloaded"
    WEBINAR_REGISTERED = "webinar_registered", "Webinar registered"
    WEBINAR_ATTENDED = "webinar_attended", "Webinar attended"
    EVENT_ATTENDED = "event_attended", "Event attended"
    PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page viewed"
    CONTACT_FORM = "contact_form", "Contact form sent"
    DEMO_REQUEST = "demo_request", "Demo requested"
    TRIAL_SIGNUP = "trial_signup", "Trial started"
    PRODUCT_USAGE = "product_usage", "Product used"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed"


# Kinds that say "I want to talk to sales now". Events of these kinds carry is_high_intent=True.
HIGH_INTENT_KINDS = frozenset(
    {
        EventKind.DEMO_REQUEST,
        EventKind.PRICING_PAGE_VIEW,
        EventKind.TRIAL_SIGNUP,
        EventKind.CONTACT_FORM,
    }
)
