"""Admin screens for marketing and managers: leads (CSV import/export with preview), events,
campaigns, and the scoring rules. Writes go through leads.services."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from import_export import fields as ie_fields
from import_export import resources, widgets
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin

from core import roles
from core.errors import DomainError
from leads import accounts, csvfile, services, views
from leads.imports.recognition import FIELD_LABELS, normalise
from leads.imports.services import source_alias_save
from leads.ingest import WRITABLE_FIELDS
from leads.ingest import clean_email as ingest_clean_email
from leads.models import (
    Account,
    Campaign,
    EngagementEvent,
    EngagementRule,
    FitRule,
    ImportMapping,
    Lead,
    LeadImport,
    LeadStageChange,
    PqlCriterion,
    ScoringConfig,
    SourceAlias,
    UserProfile,
)

RECENT_EVENTS_SHOWN = 20


# --- CSV import / export ----------------------------------------------------------------------


class LeadResource(resources.ModelResource):
    """Columns of the CSV export: the writable fields (campaign by name, owner by username),
    then the stage, score and dates, which an import never writes. The file imports back
    through the admin's import, which is the import page's flow (leads.views, ADMIN)."""

    campaign = ie_fields.Field(
        attribute="campaign",
        column_name="campaign",
        widget=widgets.ForeignKeyWidget(Campaign, field="name"),
    )
    owner = ie_fields.Field(
        attribute="owner",
        column_name="owner",
        widget=widgets.ForeignKeyWidget(Lead._meta.get_field("owner").related_model, "username"),
    )
    stage = ie_fields.Field(attribute="stage", column_name="stage", readonly=True)
    score = ie_fields.Field(attribute="score", column_name="score", readonly=True)
    ready_for_sales = ie_fields.Field(
        attribute="ready_for_sales", column_name="ready_for_sales", readonly=True
    )
    # Written in the exporter's zone, which the header names (get_export_headers).
    created_at = ie_fields.Field(
        attribute="created_at",
        column_name="created_at",
        readonly=True,
        widget=widgets.DateTimeWidget(format="%Y-%m-%d %H:%M:%S"),
    )

    class Meta:
        model = Lead
        import_id_fields = ["email"]
        fields = [*WRITABLE_FIELDS, "stage", "score", "ready_for_sales", "created_at"]
        export_order = fields
        skip_unchanged = False
        clean_model_instances = True

    def get_export_headers(self, selected_fields: Any = None) -> list[str]:
        """The date column names the zone its times are written in (the exporter's: the
        widget writes local times of the zone active for the request)."""
        zone = timezone.get_current_timezone_name()
        return [
            csvfile.zoned_header(name, zone) if name in csvfile.ZONED_COLUMNS else name
            for name in super().get_export_headers(selected_fields)
        ]

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> Any:
        # A name like =HYPERLINK(...) must reach the spreadsheet as text, not as a formula.
        return csvfile.escape_cell(super().export_field(field, instance, **kwargs))


# --- leads ----------------------------------------------------------------------------------


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
        actor = self.request.user if self.request else None
        problem = services.owner_change_problem(
            actor=actor,
            current_owner_id=self.instance.owner_id if self.instance.pk else None,
            new_owner_id=owner.pk if owner else None,
        )
        if problem:
            raise ValidationError(problem)
        return owner


@admin.register(Lead)
class LeadAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = [LeadResource]
    # CSV only: the format whose rows are checked line by line and whose cells are escaped.
    formats = [base_formats.CSV]

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

    def has_import_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user) and super().has_import_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user) and super().has_export_permission(request)

    # The import: the import page's flow (upload, mapping step, dry run, the import as a task
    # with its progress bar, summary with undo), shown in the admin's frame so that an admin
    # user stays in the admin. Same views, forms and services as /leads/import/, so a file
    # imports alike wherever it is uploaded.

    def get_urls(self) -> list[Any]:
        steps = [
            ("import/<int:pk>/", self._import_detail, "detail"),
            ("import/<int:pk>/run/", self._import_run, "run"),
            ("import/<int:pk>/progress/", self._import_progress, "progress"),
            ("import/<int:pk>/undo/", self._import_undo, "undo"),
            ("import/<int:pk>/rejected.csv", self._import_rejected, "rejected"),
        ]
        return [
            path(route, self.admin_site.admin_view(view), name=f"leads_lead_import-{name}")
            for route, view, name in steps
        ] + super().get_urls()

    def _import_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta}

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return views.import_upload(
            request, screens=views.ADMIN, extra=self._import_context(request)
        )

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        # The library's confirm step is replaced by the dry run; a stale form lands on upload.
        return redirect("admin:leads_lead_import")

    def _import_detail(self, request: HttpRequest, pk: int) -> HttpResponse:
        extra = self._import_context(request)
        return views.import_detail(request, pk, screens=views.ADMIN, extra=extra)

    def _import_run(self, request: HttpRequest, pk: int) -> HttpResponse:
        return views.import_run(request, pk, screens=views.ADMIN)

    def _import_progress(self, request: HttpRequest, pk: int) -> HttpResponse:
        return views.import_progress(request, pk, screens=views.ADMIN)

    def _import_undo(self, request: HttpRequest, pk: int) -> HttpResponse:
        return views.import_undo(request, pk, screens=views.ADMIN)

    def _import_rejected(self, request: HttpRequest, pk: int) -> HttpResponse:
        return views.import_rejected_csv(request, pk, screens=views.ADMIN)

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.lead_update(lead=Lead.objects.get(pk=obj.pk), data=data, actor=request.user)
        else:
            data = {name: form.cleaned_data[name] for name in form.cleaned_data}
            created = services.lead_create(data=data, actor=request.user)
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


# --- scoring rules: marketing and managers only; every change rescores every lead ----------


class ScoringAdminMixin(admin.ModelAdmin):
    """Saving bumps the rules' version and queues the batch rescore (leads.services)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return roles.can_edit_scoring(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_edit_scoring(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_edit_scoring(request.user) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        version = services.scoring_rule_save(rule=obj, actor=request.user)
        self.message_user(
            request, f"Scoring rules are now version {version}; every lead is being rescored."
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.scoring_rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for rule in queryset:
            services.scoring_rule_delete(rule=rule, actor=request.user)


@admin.register(FitRule)
class FitRuleAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "field", "operator", "value", "points", "active", "order"]
    list_editable = ["points", "active", "order"]
    list_filter = ["field", "operator", "active"]
    search_fields = ["name"]


@admin.register(EngagementRule)
class EngagementRuleAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "kind",
        "points",
        "max_events",
        "intent_points",
        "intent_window_days",
        "active",
    ]
    list_editable = ["points", "max_events", "intent_points", "intent_window_days", "active"]
    list_filter = ["active"]


@admin.register(PqlCriterion)
class PqlCriterionAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    """Product-usage signals that make a lead product-qualified (any active one suffices)."""

    list_display = ["name", "kind", "min_days", "feature", "within_days", "active", "order"]
    list_editable = ["active", "order"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "feature"]


@admin.register(ScoringConfig)
class ScoringConfigAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "mql_threshold",
        "engagement_half_life_days",
        "engagement_window_days",
        "version",
        "updated_at",
    ]
    readonly_fields = ["version", "updated_at"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return not ScoringConfig.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        required=False,
        help_text="Empty: automatic (the team calendar's zone, else the site's).",
    )

    class Meta:
        model = UserProfile
        fields = ["user", "time_zone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Automatic"), *((z, z) for z in sorted(available_timezones()))]


@admin.register(UserProfile)
class UserProfileAdmin(SimpleHistoryAdmin):
    """Managers set a person's time zone (people set their own on the settings page)."""

    form = UserProfileForm
    list_display = ["user", "time_zone", "updated_at"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return ["user"] if obj is not None else []

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        try:
            saved = services.user_time_zone_set(
                user=obj.user, time_zone=form.cleaned_data["time_zone"], actor=request.user
            )
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk = saved.pk


# --- imports: the source alias table and saved mappings ------------------------------------


class SourceAliasForm(forms.ModelForm):
    class Meta:
        model = SourceAlias
        fields = ["name", "source"]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        twin = SourceAlias.objects.filter(key=normalise(name)).exclude(pk=self.instance.pk).first()
        if twin is not None:
            raise ValidationError(
                f'"{twin.name}" already maps this name (case, spaces and punctuation are '
                "ignored); edit that one."
            )
        return name


@admin.register(SourceAlias)
class SourceAliasAdmin(admin.ModelAdmin):
    """What other tools call a source, and the desk's source it means (imports read source
    cells through this table)."""

    form = SourceAliasForm
    list_display = ["name", "source"]
    list_editable = ["source"]
    list_filter = ["source"]
    search_fields = ["name"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)

    def save_model(self, request: HttpRequest, obj: SourceAlias, form: Any, change: bool) -> None:
        source_alias_save(alias=obj)


class ImportMappingForm(forms.ModelForm):
    class Meta:
        model = ImportMapping
        fields = ["name"]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise ValidationError("Give the mapping a name.")
        return name


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    """Mappings saved on the import's mapping step (the page's or the admin's): listed, renamed
    and deleted here; made and changed on the mapping step itself."""

    form = ImportMappingForm
    list_display = ["name", "column_count", "created_by", "updated_at"]
    fields = ["name", "columns_table", "created_by", "updated_at"]
    readonly_fields = ["columns_table", "created_by", "updated_at"]
    search_fields = ["name"]

    @admin.display(description="Columns")
    def column_count(self, obj: ImportMapping) -> int:
        return len(obj.columns)

    @admin.display(description="File column (normalised) -> lead field")
    def columns_table(self, obj: ImportMapping) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            (
                (header, FIELD_LABELS.get(name, "skipped") if name else "skipped")
                for header, name in sorted(obj.columns.items())
            ),
        )
        return format_html('<table class="snapshot"><tbody>{}</tbody></table>', rows)

    def save_model(self, request: HttpRequest, obj: ImportMapping, form: Any, change: bool) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)


@admin.register(LeadImport)
class LeadImportAdmin(admin.ModelAdmin):
    """Imports from the import page and the admin's import, read-only; each opens on its own
    page (summary, rejected rows, undo)."""

    list_display = ["file_name", "status", "created_by", "created_at", "created_count",
                    "updated_count", "open_link"]  # fmt: skip
    list_filter = ["status"]
    fields = readonly_fields = ("file_name", "status", "created_by", "created_at", "total_rows",
                                "created_count", "updated_count", "message", "finished_at",
                                "undone_at")  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[LeadImport]:
        return super().get_queryset(request).defer("content", "errors")

    @admin.display(description="")
    def open_link(self, obj: LeadImport) -> str:
        url = reverse("admin:leads_lead_import-detail", args=[obj.pk])
        return format_html('<a href="{}">Open the import</a>', url)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_write_leads(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- accounts -----------------------------------------------------------------------------------


class AccountAdminForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "owner"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields.get("owner")
        if isinstance(owner, forms.ModelChoiceField) and owner.queryset is not None:
            owner.queryset = owner.queryset.filter(is_active=True, groups__name=roles.SALES)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Accounts come from leads (matched by domain); managers name them, give them an owner rep
    and merge duplicates. Marketing reads them."""

    form = AccountAdminForm
    list_display = ["name", "domain", "owner", "lead_count", "merged_into", "created_at"]
    list_filter = [
        ("merged_into", admin.EmptyFieldListFilter),
        ("owner", admin.EmptyFieldListFilter),
    ]
    search_fields = ["domain", "name"]
    list_select_related = ["owner", "merged_into"]
    readonly_fields = ["domain", "merged_into", "created_at", "updated_at"]
    actions = ["merge_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(lead_total=Count("leads"))

    @admin.display(description="Leads", ordering="lead_total")
    def lead_count(self, obj: Any) -> int:
        return int(obj.lead_total)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        if "owner" in form.changed_data:
            accounts.account_set_owner(account=obj, owner=obj.owner, actor=request.user)
        if "name" in form.changed_data:
            Account.objects.filter(pk=obj.pk).update(name=obj.name, updated_at=timezone.now())

    @admin.action(
        description="Merge the selected accounts into the one with the most leads",
        permissions=["change"],
    )
    def merge_selected(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        chosen = sorted(
            queryset.filter(merged_into__isnull=True).annotate(n=Count("leads")),
            key=lambda a: (-a.n, a.created_at, a.pk),
        )
        if len(chosen) < 2:
            self.message_user(request, "Pick at least two accounts not merged yet.", messages.ERROR)
            return
        target, others = chosen[0], chosen[1:]
        try:
            moved = accounts.accounts_merge(target=target, duplicates=others, actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(
            request,
            f"Merged {', '.join(a.domain for a in others)} into {target.domain}: {moved} lead(s) "
            "moved; those domains now match this account.",
            messages.SUCCESS,
        )
