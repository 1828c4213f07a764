"""The admin's CSV export and import of leads (the import page's flow in the admin's frame),
the source alias table, saved mappings and the list of imports."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export import fields as ie_fields
from import_export import resources, widgets
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin

from core import roles
from leads import csvfile, views
from leads.imports.recognition import FIELD_LABELS, normalise
from leads.imports.services import source_alias_save
from leads.ingest import WRITABLE_FIELDS
from leads.models import Campaign, ImportMapping, Lead, LeadImport, SourceAlias


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


class LeadImportExportAdmin(ImportExportModelAdmin):
    """The lead admin's CSV export (LeadResource) and import. The import is the import page's
    flow (upload, mapping step, dry run, the import as a task with its progress bar, summary
    with undo), shown in the admin's frame so that an admin user stays in the admin: same
    views, forms and services as /leads/import/, so a file imports alike wherever it is
    uploaded."""

    resource_classes = [LeadResource]
    # CSV only: the format whose rows are checked line by line and whose cells are escaped.
    formats = [base_formats.CSV]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user) and super().has_import_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return roles.can_write_leads(request.user) and super().has_export_permission(request)

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
class SourceAliasAdmin(SimpleHistoryAdmin):
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
class ImportMappingAdmin(SimpleHistoryAdmin):
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
