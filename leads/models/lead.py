"""The lead (its fields by who writes them: one list for ingest, the API and the bulk SQL), its
stage history and its engagement events."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import JSONField, Q, Value
from django.db.models.functions import Concat

from leads.history import AuditRecords
from leads.models.accounts import Account
from leads.models.campaigns import Campaign
from leads.models.choices import EmployeeBand, EventKind, Seniority, Source, Stage

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
