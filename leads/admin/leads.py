"""The lead admin (its form, its events and stage history inline, rescoring), the events' and
the campaigns'. Writes go through leads.services; the CSV import and export are in
`leads.admin.imports`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from core import roles
from core.types import actor_of
from leads import services
from leads.admin.imports import LeadImportExportAdmin
from leads.ingest import WRITABLE_FIELDS
from leads.ingest import clean_email as ingest_clean_email
from leads.models import Campaign, EngagementEvent, Lead, LeadStageChange

RECENT_EVENTS_SHOWN = 20


class RecentEventsFormSet(BaseInlineFormSet):
    """Only the newest events: a lead with thousands of them still opens at once."""

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_recent"):
            qs = super().get_queryset().order_by("-occurred_at", "-id")
            ids = list(qs.values_list("pk", flat=True)[:RECENT_EVENTS_SHOWN])
            self._recent = qs.filter(pk__in=ids)
        return self._recent


_EVENT_FIELDS = ("kind", "occurred_at", "is_high_intent", "external_id", "payload")
_STAGE_CHANGE_FIELDS = ("at", "from_stage", "to_stage", "actor", "reason")


class EngagementEventInline(admin.TabularInline):
    model = EngagementEvent
    formset = RecentEventsFormSet
    fields = readonly_fields = _EVENT_FIELDS
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = f"Latest {RECENT_EVENTS_SHOWN} engagement events"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StageChangeInline(admin.TabularInline):
    model = LeadStageChange
    fields = readonly_fields = _STAGE_CHANGE_FIELDS
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _short(moment: Any) -> str:
    """A changelist date in the site's zone, short enough for the column ("7 Dec 14:05")."""
    if moment is None:
        return "-"
    return date_format(timezone.localtime(moment), "j M H:i")


class LeadAdminForm(forms.ModelForm):
    request: HttpRequest | None = None

    class Meta:
        model = Lead
        fields = list(WRITABLE_FIELDS)

    def clean_email(self) -> str:
        email, problem = ingest_clean_email(self.cleaned_data["email"])
        if problem:
            raise ValidationError(problem)
        return email

    def clean_owner(self) -> Any:
        owner = self.cleaned_data.get("owner")
        if owner is not None and not roles.is_marketer(owner):
            raise ValidationError("The owner must be a marketer.")
        actor = actor_of(self.request) if self.request else None
        problem = services.owner_change_problem(
            actor=actor,
            current_owner_id=self.instance.owner_id if self.instance.pk else None,
            new_owner_id=owner.pk if owner else None,
        )
        if problem:
            raise ValidationError(problem)
        return owner


@admin.register(Lead)
class LeadAdmin(LeadImportExportAdmin, SimpleHistoryAdmin):
    class Media:
        css = {"all": ["css/admin.css"]}  # no inline styles under the Content-Security-Policy

    form = LeadAdminForm
    # Fits 1280 px beside the filters: the name sits under the email, dates are short
    # (templates/admin/leads/lead/change_list.html keeps the cells compact).
    list_display = [
        "lead_name",
        "company",
        "stage",
        "score",
        "ready_for_sales",
        "source",
        "campaign",
        "owner",
        "last_engaged_short",
        "created_short",
    ]
    change_list_template = "admin/leads/lead/change_list.html"
    list_filter = [
        "stage",
        "ready_for_sales",
        "source",
        ("campaign", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
        "seniority",
        "employee_band",
        "created_at",
    ]
    # Names, email, company, domain: one column with a trigram index (Lead.search_text).
    search_fields = ["search_text"]
    list_select_related = ["campaign", "owner"]
    ordering = ["-created_at"]  # the changelist adds -pk as the tiebreak; one sort mark, not two
    show_full_result_count = False
    date_hierarchy = "created_at"
    autocomplete_fields = ["campaign"]
    inlines = [EngagementEventInline, StageChangeInline]
    actions = ["rescore_selected"]
    readonly_fields = [
        "stage",
        "score",
        "score_explained",
        "ready_for_sales",
        "ready_since",
        "last_engaged_at",
        "last_high_intent_at",
        "all_events",
        "mql_at",
        "sal_at",
        "sql_at",
        "recycled_at",
        "recycle_until",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["email", ("first_name", "last_name"), "phone", "title", "seniority"]}),
        ("Company", {"fields": ["company", "domain", "industry", "employee_band", "country"]}),
        ("Marketing", {"fields": ["source", "campaign", "owner"]}),
        (
            "Score",
            {"fields": ["score", "ready_for_sales", "ready_since", "score_explained"]},
        ),
        (
            "Lifecycle",
            {
                "fields": [
                    "stage",
                    ("mql_at", "sal_at", "sql_at"),
                    ("recycled_at", "recycle_until"),
                    ("last_engaged_at", "last_high_intent_at"),
                    "all_events",
                    ("created_at", "updated_at"),
                ]
            },
        ),
    ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An erased lead is read-only: its personal data must not come back through a form.
        if obj is not None and obj.erased_at is not None:
            return False
        return roles.can_write_leads(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Leads are not deleted (their handoffs and the reports keep them); a person's data is
        # removed with the erase action instead.
        return False

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.lead_update(
                lead=Lead.objects.get(pk=obj.pk), data=data, actor=actor_of(request)
            )
        else:
            data = {name: form.cleaned_data[name] for name in form.cleaned_data}
            created = services.lead_create(data=data, actor=actor_of(request))
            obj.pk = created.pk

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            # Only marketers own leads (LeadAdminForm refuses anyone else): offer only them.
            kwargs["queryset"] = (
                db_field.related_model._default_manager.filter(roles.marketer_q(), is_active=True)
                .distinct()
                .order_by("first_name", "last_name", "username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="lead", ordering="email")
    def lead_name(self, lead: Lead) -> str:
        name = lead.full_name
        if not name:
            return lead.email
        return format_html('{}<br><span class="quiet">{}</span>', lead.email, name)

    @admin.display(description="last engaged", ordering="last_engaged_at")
    def last_engaged_short(self, lead: Lead) -> str:
        return _short(lead.last_engaged_at)

    @admin.display(description="created", ordering="created_at")
    def created_short(self, lead: Lead) -> str:
        return _short(lead.created_at)

    @admin.display(description="Why this score")
    def score_explained(self, lead: Lead) -> str:
        breakdown = lead.score_breakdown or {}
        items = breakdown.get("items") or []
        if not items:
            return "No points yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td class='admin-num'>{}</td></tr>",
            ((i["category"], i["label"], f"{i['points']:+d}") for i in items),
        )
        return format_html(
            "<table><thead><tr><th>Category</th><th>Rule</th><th>Points</th></tr></thead>"
            "<tbody>{}</tbody><tfoot><tr><th colspan='2'>Total (fit {}, engagement {}, intent "
            "{}; MQL at {})</th><th class='admin-num'>{}</th></tr></tfoot></table>",
            rows,
            breakdown.get("fit", 0),
            breakdown.get("engagement", 0),
            breakdown.get("intent", 0),
            breakdown.get("threshold", "?"),
            breakdown.get("total", lead.score),
        )

    @admin.display(description="Events")
    def all_events(self, lead: Lead) -> str:
        url = reverse("admin:leads_engagementevent_changelist") + f"?lead__id__exact={lead.pk}"
        return format_html('<a href="{}">All events of this lead</a>', url)

    @admin.action(description="Rescore the selected leads now")
    def rescore_selected(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        if not roles.can_write_leads(request.user):
            self.message_user(request, "Only marketing and managers can rescore.", messages.ERROR)
            return
        leads = list(queryset.select_for_update().order_by("pk"))
        services.leads_rescore(leads=leads)
        self.message_user(request, f"Rescored {len(leads)} leads.", messages.SUCCESS)


@admin.register(EngagementEvent)
class EngagementEventAdmin(admin.ModelAdmin):
    """Read-only: events arrive through the API and imports, each rescoring its lead."""

    list_display = ["occurred_at", "lead", "kind", "is_high_intent", "external_id"]
    list_filter = ["kind", "is_high_intent", "occurred_at"]
    search_fields = ["lead__email", "external_id"]
    list_select_related = ["lead"]
    raw_id_fields = ["lead"]
    show_full_result_count = False
    ordering = ["-occurred_at", "-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "cost", "starts_on", "ends_on", "lead_count"]
    list_filter = ["channel"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return super().get_queryset(request).annotate(lead_count=Count("leads"))

    @admin.display(description="Leads", ordering="lead_count")
    def lead_count(self, campaign: Any) -> int:
        return int(campaign.lead_count)
