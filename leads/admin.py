"""Admin screens for marketing and managers: leads (CSV import/export with preview), events,
campaigns, and the scoring rules. Writes go through leads.services."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from import_export import fields as ie_fields
from import_export import resources, widgets
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.forms import ImportForm
from simple_history.admin import SimpleHistoryAdmin

from leads import accounts, csvfile, erasure, roles, services
from leads.derivation import derive_fields
from leads.errors import DomainError
from leads.imports import values as import_values
from leads.imports.recognition import normalise, recognise
from leads.imports.services import ImportRefused, read_header, source_alias_save
from leads.ingest import WRITABLE_FIELDS, clean_lead_row
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
    """Columns of the CSV: the writable fields (campaign by name, owner by username) on import;
    export adds the stage, score and dates, which an import never writes.

    Rows are checked with the same rules as the bulk API (leads.ingest). An empty cell leaves
    the stored value alone; a lead is matched on its normalised email; the same email twice in
    one file is an error on both rows. Imported leads are rescored once the import is done.
    """

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

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # The header read as the import page and import_leads read it (leads.imports): an
        # export of another tool is renamed to the desk's columns; the upload form has already
        # refused a header naming a column twice or an unknown desk column.
        mapping = recognise([str(h or "") for h in (dataset.headers or [])])
        self._headers = {c.field: c.header for c in mapping.columns if c.field}
        dataset.headers = [c.field or f"skipped: {c.header}" for c in mapping.columns]
        self._convert = import_values.converter(import_values.source_table())
        emails = (
            [services.normalise_email(str(e or "")) for e in dataset["email"]]
            if ("email" in (dataset.headers or []))
            else []
        )
        self._duplicates = {e for e, n in Counter(emails).items() if e and n > 1}
        self._erased = erasure.erased_among(emails)  # one query for the file
        self._imported: list[int] = []

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

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        user = kwargs.get("user")
        for name in list(row.keys()):
            row[name] = csvfile.unescape_cell(row[name])  # our own export, read back
        raw = {k: ("" if v is None else str(v)) for k, v in row.items() if k in WRITABLE_FIELDS}
        originals = dict(raw)
        converted = self._convert(raw)  # countries, head counts, sources, seniority
        for name in converted:
            del raw[name]
        clean = clean_lead_row(
            raw, index=0, now=timezone.now(), blank_is_missing=True, allow_events=False
        )
        errors = {
            name: [f'column "{self._headers.get(name, name)}": {message}']
            for name, message in converted.items()
        }
        for name, problems in clean.errors.items():
            value = originals.get(name, "")
            errors[name] = [
                f'column "{self._headers.get(name, name)}" ("{value}"): {m}' for m in problems
            ]
        if clean.email in self._erased:
            errors.setdefault("email", []).append(erasure.ERASED_EMAIL_MESSAGE)
        if clean.email in self._duplicates:
            errors.setdefault("email", []).append(
                f"{clean.email} appears more than once in this file; keep one row per lead."
            )
        owner_model = Lead._meta.get_field("owner").related_model
        if (
            clean.has_campaign
            and clean.campaign_ref is not None
            and not Campaign.objects.filter(name=str(clean.campaign_ref)).exists()
        ):
            errors.setdefault("campaign", []).append(f'No campaign "{clean.campaign_ref}".')
        if clean.has_owner and clean.owner_ref is not None:
            owner = (
                owner_model._default_manager.filter(roles.marketer_q(), is_active=True)
                .filter(username=str(clean.owner_ref))
                .first()
            )
            if owner is None:
                errors.setdefault("owner", []).append(f'No active marketer "{clean.owner_ref}".')
            else:
                current = Lead.objects.filter(email=clean.email).values_list("owner_id", flat=True)
                problem = services.owner_change_problem(
                    actor=user,
                    current_owner_id=current[0] if current else None,
                    new_owner_id=owner.pk,
                )
                if problem:
                    errors.setdefault("owner", []).append(problem)
        if errors:
            # The preview's table names the row by its line in the file (admin/leads/lead/
            # import.html: the header is line 1), once, in its own column.
            raise ValidationError(errors)
        row["email"] = clean.email
        for name in WRITABLE_FIELDS:
            if name == "email" or name not in row:
                continue
            if name in ("campaign", "owner"):
                given = clean.has_campaign if name == "campaign" else clean.has_owner
                if not given:
                    del row[name]  # empty cell: leave the stored value alone
            elif name in clean.values:
                row[name] = clean.values[name]
            else:
                del row[name]  # empty cell: leave the stored value alone

    def before_save_instance(self, instance: Lead, row: Any, **kwargs: Any) -> None:
        values = {
            name: getattr(instance, name) for name in ("email", "title", "seniority", "domain")
        }
        derive_fields(values, given={name for name in row if name in WRITABLE_FIELDS})
        instance.seniority, instance.domain = values["seniority"], values["domain"]

    def after_save_instance(self, instance: Lead, row: Any, **kwargs: Any) -> None:
        self._imported.append(instance.pk)

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        super().after_import(dataset, result, **kwargs)
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        leads = list(Lead.objects.select_for_update().filter(pk__in=self._imported).order_by("pk"))
        services.leads_rescore(leads=leads)


class LeadImportForm(ImportForm):
    """The upload, refused before any parsing when it is too big, not UTF-8, has a quote that
    never closes or no email column: each error names the line (leads.csvfile)."""

    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        problem = csvfile.size_problem(
            upload.size,
            settings.LEAD_IMPORT_MAX_BYTES,
            hint="import it with `manage.py import_leads`, or split it.",
        )
        if problem:
            raise ValidationError(problem)
        upload.seek(0)
        try:
            header, _ = read_header(lambda: contextlib.nullcontext(upload), samples=0)
            mapping = recognise(header)
            if not mapping.ok:
                raise ValidationError(
                    [f"line 1: {p}" for p in mapping.problems] + ["Nothing was imported."]
                )
            upload.seek(0)
            for _ in csvfile.records(csvfile.decoded_lines(upload)):
                pass
        except ImportRefused as exc:
            raise ValidationError(str(exc)) from None
        except csvfile.CsvFileError as exc:
            raise ValidationError(str(exc)) from None
        finally:
            upload.seek(0)
        return upload


# --- leads ----------------------------------------------------------------------------------


class RecentEventsFormSet(BaseInlineFormSet):
    """Only the newest events: a lead with thousands of them still opens at once."""

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_recent"):
            qs = super().get_queryset().order_by("-occurred_at", "-id")
            ids = list(qs.values_list("pk", flat=True)[:RECENT_EVENTS_SHOWN])
            self._recent = qs.filter(pk__in=ids)
        return self._recent


class EngagementEventInline(admin.TabularInline):
    model = EngagementEvent
    formset = RecentEventsFormSet
    fields = ["kind", "occurred_at", "is_high_intent", "external_id", "payload"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = f"Latest {RECENT_EVENTS_SHOWN} engagement events"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StageChangeInline(admin.TabularInline):
    model = LeadStageChange
    fields = ["at", "from_stage", "to_stage", "actor", "reason"]
    readonly_fields = fields
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
    import_form_class = LeadImportForm

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
    import_template_name = "admin/leads/lead/import.html"
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


class ScoringAdminMixin:
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


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    """Mappings saved on the import page; renamed or deleted here."""

    list_display = ["name", "created_by", "updated_at"]
    fields = ["name", "columns"]
    search_fields = ["name"]

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
    """Imports from the import page, read-only (undo is on the import's own page)."""

    list_display = ["file_name", "status", "created_by", "created_at", "created_count",
                    "updated_count"]  # fmt: skip
    list_filter = ["status"]
    fields = ["file_name", "status", "created_by", "created_at", "total_rows", "created_count",
              "updated_count", "message", "finished_at", "undone_at"]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[LeadImport]:
        return super().get_queryset(request).defer("content", "errors")

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
        if isinstance(owner, forms.ModelChoiceField):
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
