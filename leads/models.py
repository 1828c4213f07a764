"""Leads, their engagement, the scoring rules (data, edited in admin) and the stage history."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import JSONField, Q, Value
from django.db.models.functions import Concat

from leads.history import AuditRecords


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


class Campaign(models.Model):
    name = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=32, choices=Source.choices, default=Source.OTHER)
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A company: the leads sharing a company domain (matched by leads.accounts)."""

    # Normalised by leads.accounts.account_domain: lower-case, no "www.", never free mail.
    domain = models.CharField(max_length=253)
    name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        help_text="The sales rep who owns the relationship (routing can prefer them).",
    )
    # A duplicate merged away: its domain stays as an alias of the surviving account.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="aliases"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["domain"], name="account_unique_domain")]

    def __str__(self) -> str:
        return f"{self.name or self.domain} ({self.domain})"


# --- a lead's fields by who writes them: one list for ingest, the API and the bulk SQL --------

# Plain text a client may write (the API, CSV imports, the admin's import).
LEAD_TEXT_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "title",
    "company",
    "domain",
    "industry",
    "country",
)
# A choice of this model's (Seniority, EmployeeBand, Source).
LEAD_CHOICE_FIELDS = ("seniority", "employee_band", "source")
# Another row, given by id.
LEAD_REFERENCE_FIELDS = ("campaign", "owner")
# Everything a client may write; the rest of a lead is the system's (LEAD_PROTECTED_FIELDS).
LEAD_WRITABLE_FIELDS = ("email", *LEAD_TEXT_FIELDS, *LEAD_CHOICE_FIELDS, *LEAD_REFERENCE_FIELDS)
# When the lead first reached each stage (STAGE_REACHED_FIELD's values, in stage order).
LEAD_STAGE_DATE_FIELDS = (
    "mql_at",
    "sal_at",
    "sql_at",
    "opportunity_at",
    "customer_at",
    "recycled_at",
    "disqualified_at",
)
# Read-only to a client: a write naming one is refused, naming the field.
LEAD_PROTECTED_FIELDS = frozenset(
    {
        "id",
        "stage",
        "score",
        "score_breakdown",
        "scored_at",
        "ready_for_sales",
        "ready_since",
        "last_engaged_at",
        "last_high_intent_at",
        *LEAD_STAGE_DATE_FIELDS,
        "recycle_until",
        "return_count",
        "erased_at",
        "created_at",
        "updated_at",
    }
)


def _joined(*names: str) -> list[Any]:
    """The fields, with a space between each two."""
    parts: list[Any] = []
    for name in names:
        parts += [Value(" "), name] if parts else [name]
    return parts


class Lead(models.Model):
    # Normalised (trimmed, lower-cased) by leads.services before it gets here. Unique through
    # Meta.constraints rather than unique=True: on PostgreSQL that adds a second, LIKE-prefix
    # index (varchar_pattern_ops) nothing here uses, which every insert would have to keep.
    email = models.CharField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=200, blank=True)
    seniority = models.CharField(
        max_length=20, choices=Seniority.choices, default=Seniority.UNKNOWN, blank=True
    )
    company = models.CharField(max_length=200, blank=True)
    # Derived from the email unless given. Indexed in Meta (a plain btree, no LIKE twin).
    domain = models.CharField(max_length=253, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    employee_band = models.CharField(
        max_length=16, choices=EmployeeBand.choices, default=EmployeeBand.UNKNOWN, blank=True
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code")
    source = models.CharField(max_length=32, choices=Source.choices, default=Source.OTHER)
    # No index of its own: lead_campaign_created (campaign, created_at) serves its lookups.
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        help_text="The marketer responsible for this lead.",
    )
    # The company's account, matched by domain on the way in (leads.accounts); none for
    # free-mail addresses.
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    score = models.IntegerField(default=0)
    # {"total": int, "fit": int, "engagement": int, "intent": int, "threshold": int,
    #  "items": [{"category", "rule", "label", "points"}...], "scored_at": iso}
    score_breakdown = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # Score crossed the MQL threshold: marketing should look at it. Promotion stays a marketer's act.
    ready_for_sales = models.BooleanField(default=False)
    ready_since = models.DateTimeField(null=True, blank=True)
    # Why it is ready: "score" (over the MQL threshold), "pql" (product-qualified), or
    # "re_engaged" (recycled, in its cooldown, and new high intent since the return).
    # (Database defaults on the lifecycle columns: raw INSERTs that predate them keep working.)
    ready_reason = models.CharField(max_length=16, blank=True, default="", db_default="")
    last_engaged_at = models.DateTimeField(null=True, blank=True)
    last_high_intent_at = models.DateTimeField(null=True, blank=True)
    # Product-qualified: meets a PQL criterion (leads.lifecycle); the matched ones with details.
    pql = models.BooleanField(default=False, db_default=False)
    pql_since = models.DateTimeField(null=True, blank=True)
    pql_criteria = models.JSONField(default=list, blank=True, db_default=Value([], JSONField()))

    # When the lead first reached each stage (see STAGE_REACHED_FIELD).
    mql_at = models.DateTimeField(null=True, blank=True)
    sal_at = models.DateTimeField(null=True, blank=True)
    sql_at = models.DateTimeField(null=True, blank=True)
    opportunity_at = models.DateTimeField(null=True, blank=True)
    customer_at = models.DateTimeField(null=True, blank=True)
    # Unlike the others: the latest move to recycled (the last return to nurture).
    recycled_at = models.DateTimeField(null=True, blank=True)
    disqualified_at = models.DateTimeField(null=True, blank=True)
    # Set when sales returns the lead to nurture: no re-promotion before this, unless new intent.
    recycle_until = models.DateTimeField(null=True, blank=True)
    return_count = models.PositiveIntegerField(default=0)

    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What every search box matches (lead list, `?search=` in the API, the admin), kept by the
    # database. One column rather than an OR over five: on PostgreSQL a trigram index on it
    # (migration 0007, `lead_search_trgm`) serves `search_text__icontains`, where the OR was a
    # sequential scan of every lead per term (1.1 s for a two-word admin search at 100,000).
    # Space-separated, so "Ada Lovelace" finds her.
    search_text = models.GeneratedField(
        expression=Concat(*_joined("first_name", "last_name", "email", "company", "domain")),
        output_field=models.TextField(),
        db_persist=True,
    )

    # The audit trail keeps what people edit (LEAD_AUDITED_FIELDS); the stage has its own
    # history (LeadStageChange) and the score is derived, rewritten by every rescore.
    history = AuditRecords(
        excluded_fields=[
            "account",
            "stage",
            "score",
            "score_breakdown",
            "scored_at",
            "ready_for_sales",
            "ready_since",
            "ready_reason",
            "last_engaged_at",
            "last_high_intent_at",
            "pql",
            "pql_since",
            "pql_criteria",
            "mql_at",
            "sal_at",
            "sql_at",
            "opportunity_at",
            "customer_at",
            "recycled_at",
            "disqualified_at",
            "recycle_until",
            "return_count",
            "created_at",
            "updated_at",
            "search_text",
        ]
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["email"], name="lead_unique_email")]
        indexes = [
            models.Index(fields=["domain"], name="lead_domain"),
            models.Index(fields=["stage", "-score"], name="lead_stage_score"),
            models.Index(fields=["-score"], name="lead_score"),
            models.Index(fields=["source", "created_at"], name="lead_source_created"),
            models.Index(fields=["campaign", "created_at"], name="lead_campaign_created"),
            models.Index(
                fields=["-score"],
                name="lead_ready_for_sales",
                condition=Q(ready_for_sales=True),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class LeadStageChange(models.Model):
    """Append-only history: every change of a lead's lifecycle stage."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["lead", "at"], name="stagechange_lead_at")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage or '-'} -> {self.to_stage}"


class EngagementEvent(models.Model):
    # No index of its own: event_lead_occurred (lead, -occurred_at) serves its lookups.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    is_high_intent = models.BooleanField(default=False)
    # Optional id from the sending system, so that a replayed event is not counted twice.
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="event_lead_occurred")]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "external_id"],
                condition=~Q(external_id=""),
                name="event_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class ScoringConfig(models.Model):
    """The one row of scoring settings: the MQL threshold and the engagement half-life."""

    mql_threshold = models.PositiveIntegerField(default=60)
    engagement_half_life_days = models.FloatField(default=30.0)
    # Events older than this count for nothing (and are not read when scoring).
    engagement_window_days = models.PositiveIntegerField(default=180)
    # Bumped on every rule change, so a breakdown names the rule set that produced it.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["version", "updated_at"])

    class Meta:
        verbose_name = "scoring settings"
        verbose_name_plural = "scoring settings"

    def __str__(self) -> str:
        return f"Scoring v{self.version} (MQL at {self.mql_threshold})"

    def clean(self) -> None:
        if self.engagement_half_life_days is not None and self.engagement_half_life_days <= 0:
            raise ValidationError({"engagement_half_life_days": "Must be more than 0 days."})


class FitRule(models.Model):
    """Firmographic / demographic rule: if the lead's field matches, add (or remove) points."""

    class Field(models.TextChoices):
        INDUSTRY = "industry", "Industry"
        EMPLOYEE_BAND = "employee_band", "Employee band"
        SENIORITY = "seniority", "Seniority"
        COUNTRY = "country", "Country"
        TITLE = "title", "Title"
        DOMAIN = "domain", "Email domain"
        SOURCE = "source", "Source"

    class Operator(models.TextChoices):
        EQUALS = "eq", "equals"
        IN = "in", "is one of"
        GTE = "gte", "is at least"
        LTE = "lte", "is at most"
        CONTAINS = "contains", "contains (case-insensitive)"
        FREE_MAIL = "free_mail", "is a free-mail domain"

    name = models.CharField(max_length=100, unique=True)
    field = models.CharField(max_length=32, choices=Field.choices)
    operator = models.CharField(max_length=16, choices=Operator.choices)
    # A string, a number, or a list of strings, depending on the operator.
    value = models.JSONField(default=list, blank=True)
    points = models.IntegerField()
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    history = AuditRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"

    def clean(self) -> None:
        problem = fit_rule_value_problem(self.field, self.operator, self.value)
        if problem:
            raise ValidationError({"value": problem})


def fit_rule_value_problem(field: str, operator: str, value: Any) -> str | None:
    """What is wrong with a fit rule's value for its operator, or None (admin, API and tests)."""
    if operator == FitRule.Operator.IN:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return 'Give a non-empty list of strings, e.g. ["software", "fintech"].'
    elif operator in (FitRule.Operator.GTE, FitRule.Operator.LTE):
        if field == FitRule.Field.EMPLOYEE_BAND:
            # (isinstance first: a list or an object is not a key of the table, and not hashable.)
            if isinstance(value, bool) or not (
                isinstance(value, int | float)
                or (isinstance(value, str) and value in EMPLOYEE_BAND_MIN)
            ):
                return 'Give a number of employees (e.g. 200) or a band (e.g. "201-500").'
        elif field == FitRule.Field.SENIORITY:
            if isinstance(value, bool) or not (
                isinstance(value, int)
                or (isinstance(value, str) and value in SENIORITY_RANK and value != "")
            ):
                return "Give a seniority (individual, manager, director, vp, c_level)."
        else:
            return "At least / at most only compare employee band or seniority."
    elif operator in (FitRule.Operator.EQUALS, FitRule.Operator.CONTAINS):
        if not isinstance(value, str) and not (
            operator == FitRule.Operator.CONTAINS
            and isinstance(value, list)
            and value
            and all(isinstance(v, str) for v in value)
        ):
            return "Give a string (contains also takes a list of strings: any of them matches)."
    elif operator == FitRule.Operator.FREE_MAIL:
        if field != FitRule.Field.DOMAIN:
            return "Free-mail checks the email domain: pick the field 'Email domain'."
        if value not in (None, "", []) and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return "Leave empty, or list extra free-mail domains."
    return None


class EngagementRule(models.Model):
    """Points for each event of a kind (decayed with the half-life), plus one-off intent points."""

    kind = models.CharField(max_length=32, choices=EventKind.choices, unique=True)
    points = models.IntegerField(default=0, help_text="Per event, before decay.")
    max_events = models.PositiveIntegerField(
        default=5, help_text="Count at most this many events of the kind."
    )
    intent_points = models.IntegerField(
        default=0, help_text="Added once when an event of this kind happened within the window."
    )
    intent_window_days = models.PositiveIntegerField(default=14)
    active = models.BooleanField(default=True)
    history = AuditRecords()

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.points:+d})"


class PqlCriterion(models.Model):
    """One product-usage signal that makes a lead product-qualified (any active one suffices)."""

    class Kind(models.TextChoices):
        USAGE_DAYS = "usage_days", "Product used on at least N distinct days"
        FEATURE = "feature", "Used a named feature"
        TRIAL = "trial", "Trial activated"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    min_days = models.PositiveIntegerField(
        default=3, help_text="usage_days: distinct days with a product_usage event."
    )
    feature = models.CharField(
        max_length=100,
        blank=True,
        help_text='feature: a product_usage event whose payload has {"feature": this}.',
    )
    within_days = models.PositiveIntegerField(default=14, help_text="Only events this recent.")
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    history = AuditRecords()

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "PQL criterion"
        verbose_name_plural = "PQL criteria"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problem = pql_criterion_problem(self.kind, self.min_days, self.feature, self.within_days)
        if problem:
            raise ValidationError({problem[0]: problem[1]})


def pql_criterion_problem(
    kind: str, min_days: int | None, feature: str, within_days: int | None
) -> tuple[str, str] | None:
    """(field, message) when a criterion cannot work, else None (admin, API and tests)."""
    if not within_days or within_days < 1 or within_days > 365:
        return ("within_days", "Give 1 to 365 days.")
    if kind == PqlCriterion.Kind.USAGE_DAYS and (
        not min_days or min_days < 1 or min_days > within_days
    ):
        return ("min_days", "Give at least 1 day, and no more than within_days.")
    if kind == PqlCriterion.Kind.FEATURE and not (feature or "").strip():
        return ("feature", "Name the feature (the payload's `feature` value).")
    return None


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an `Idempotency-Key` header, kept for 24 hours.

    The row is claimed (inserted as in flight, committed at once) before the work starts, so a
    duplicate that arrives while the first is still running sees it and gets a 409; it is
    completed in the same transaction as the work, so a stored answer always matches what was
    written.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Which endpoint the key was used on: keys are per user and per endpoint.
    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="idempotency_unique_user_scope_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.state})"


class Erasure(models.Model):
    """One erasure of a person's data on request (GDPR): the audit record, and the blocklist.

    Only a keyed hash of the normalised email is kept, so the address cannot be read back, but
    re-ingesting it is refused.
    """

    email_hash = models.CharField(max_length=64, unique=True)
    lead_id_erased = models.BigIntegerField(null=True, blank=True)
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What was removed, as counts per table (no personal data).
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"Erasure of lead {self.lead_id_erased} at {self.erased_at:%Y-%m-%d %H:%M}"


class UserProfile(models.Model):
    """What a person sets for themselves: the time zone every time is shown in. Empty means
    automatic: their team calendar's zone, else the site's TIME_ZONE (resolved by
    handoff.timezones, which knows the teams)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="An IANA zone such as Europe/Paris. Empty: the team calendar's zone.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone or 'automatic'})"


# --- imports of CSV files (leads.imports) ---------------------------------------------------


class SourceAlias(models.Model):
    """What another tool calls a source ("Organic Search", "Trade Show") and the desk's source
    it means: the editable table an import maps source cells through (names compared with case,
    spaces and punctuation ignored)."""

    name = models.CharField(max_length=100, unique=True, help_text="As the other tool writes it.")
    key = models.CharField(max_length=100, unique=True, editable=False)
    source = models.CharField(max_length=30, choices=Source.choices)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "source aliases"

    def __str__(self) -> str:
        return f"{self.name} -> {self.get_source_display()}"


class ImportMapping(models.Model):
    """A named, reusable column mapping ("HubSpot contacts"): normalised header -> field, or
    "" to skip the column."""

    name = models.CharField(max_length=100, unique=True)
    columns = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    CHECKING = "checking", "Checking"
    CHECKED = "checked", "Checked"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed (nothing kept)"
    UNDONE = "undone", "Undone"


class LeadImport(models.Model):
    """One CSV file imported from the import page: the file, its mapping, the dry run's and
    the run's counts, and (in LeadImportChange) what it wrote, so it can be undone."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    file_name = models.CharField(max_length=255)
    content = models.BinaryField()
    header = models.JSONField(default=list)
    columns = models.JSONField(default=dict)  # normalised header -> field or ""
    skip_bad_rows = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    to_create = models.PositiveIntegerField(default=0)
    to_update = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # [[line, message], ...] of the rows refused by the dry run or the run.
    errors = models.JSONField(default=list)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    # The file, the row errors (they quote cells) and the before values are personal data kept
    # only for the undo window: purged after it (leads.imports.services.lead_imports_purge).
    rejected_count = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.file_name}"


class LeadImportChange(models.Model):
    """A lead an import wrote: created (undo removes it) or updated (undo restores `before`,
    the values of the fields the import changed)."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="changes")
    lead_id = models.BigIntegerField()
    created = models.BooleanField()
    before = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lead_import", "created"], name="import_change_kind")]

    def __str__(self) -> str:
        return f"{'created' if self.created else 'updated'} lead {self.lead_id}"
