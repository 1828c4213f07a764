"""The import page for marketers (/leads/import/): upload, mapping step, dry run, the import
as a Celery task with a polled progress bar, and a summary with the rejected rows and undo.

Thin: every write is a leads.imports.services call; a refusal becomes a message or a form error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import roles
from core.errors import DomainError
from leads import csvfile
from leads.forms import ImportMappingForm, ImportUploadForm
from leads.imports import services as imports
from leads.models import ImportStatus, LeadImport

ERRORS_SHOWN = 100


@dataclass(frozen=True)
class ImportScreens:
    """Where the import steps are shown: the import page, or the admin's import (the same
    views, forms and services in the admin's frame, so an admin user stays in the admin)."""

    upload_template: str
    detail_template: str
    url_prefix: str  # "leads:import" -> leads:import, leads:import-detail, leads:import-run...

    def url(self, step: str = "", *args: Any) -> str:
        return reverse(f"{self.url_prefix}-{step}" if step else self.url_prefix, args=args)

    def urls(self, pk: int) -> dict[str, str]:
        steps = ("detail", "run", "undo", "rejected", "progress")
        return {"upload": self.url(), **{step: self.url(step, pk) for step in steps}}


PAGE = ImportScreens("leads/import_upload.html", "leads/import_detail.html", "leads:import")
ADMIN = ImportScreens(
    "admin/leads/lead/import.html", "admin/leads/lead/import.html", "admin:leads_lead_import"
)


def _marketing_or_manager(view: Any) -> Any:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (roles.is_marketer(request.user) or roles.is_manager(request.user)):
            raise PermissionDenied("This page is for marketing and sales managers.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _own_import(request: HttpRequest, pk: int) -> LeadImport:
    """An import its author sees, and managers; anyone else gets a 404."""
    qs = LeadImport.objects.defer("content")
    if not roles.is_manager(request.user):
        qs = qs.filter(created_by_id=request.user.pk)
    return get_object_or_404(qs, pk=pk)


@_marketing_or_manager
@require_http_methods(["GET", "POST"])
def import_upload(
    request: HttpRequest, screens: ImportScreens = PAGE, extra: dict[str, Any] | None = None
) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        problem = csvfile.size_problem(
            upload.size,
            settings.LEAD_IMPORT_PAGE_MAX_BYTES,
            hint="split it, or ask an operator to run `manage.py import_leads`.",
        )
        if problem:
            form.add_error("file", problem)
        else:
            try:
                lead_import = imports.lead_import_start(
                    actor=request.user, file_name=upload.name, content=upload.read()
                )
            except imports.ImportRefused as exc:
                form.add_error("file", f"{exc} Nothing was imported.")
            else:
                saved = form.cleaned_data["saved_mapping"]
                if saved is not None:
                    chosen = {**lead_import.columns, **saved.columns}
                    lead_import.columns = chosen
                    lead_import.save(update_fields=["columns"])
                return redirect(screens.url("detail", lead_import.pk))
    recent = list(LeadImport.objects.defer("content").filter(created_by_id=request.user.pk)[:10])
    for earlier in recent:
        earlier.detail_url = screens.url("detail", earlier.pk)  # type: ignore[attr-defined]
    context = {"form": form, "recent": recent, "screens": screens, **(extra or {})}
    return render(request, screens.upload_template, context)


@_marketing_or_manager
@require_http_methods(["GET", "POST"])
def import_detail(
    request: HttpRequest,
    pk: int,
    screens: ImportScreens = PAGE,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The mapping step and dry run (before the import), the progress bar (while it runs), the
    summary (after)."""
    lead_import = _own_import(request, pk)
    context: dict[str, Any] = {
        "imp": lead_import,
        "errors_shown": ERRORS_SHOWN,
        "screens": screens,
        "urls": screens.urls(pk),
        **(extra or {}),
    }
    editable = lead_import.status in (ImportStatus.UPLOADED, ImportStatus.CHECKED)
    if editable:
        full = LeadImport.objects.get(pk=pk)
        mapping = imports.lead_import_mapping(full)
        form = ImportMappingForm(
            request.POST or None, mapping=mapping, initial={"skip_bad_rows": full.skip_bad_rows}
        )
        if request.method == "POST" and form.is_valid():
            columns = form.columns()
            try:
                if form.cleaned_data["save_as"]:
                    imports.import_mapping_save(
                        name=form.cleaned_data["save_as"], columns=columns, actor=request.user
                    )
                    messages.success(request, f'Mapping saved as "{form.cleaned_data["save_as"]}".')
                skip = form.cleaned_data["skip_bad_rows"]
                if len(full.content) > settings.LEAD_IMPORT_INLINE_CHECK_BYTES:
                    imports.lead_import_check_queue(
                        lead_import=full, columns=columns, skip_bad_rows=skip
                    )
                else:
                    imports.lead_import_check(
                        lead_import=full, columns=columns, skip_bad_rows=skip, actor=request.user
                    )
            except DomainError as exc:
                messages.error(request, exc.message)
            return redirect(screens.url("detail", pk))
        context.update(form=form, mapping=mapping)
    context["errors"] = lead_import.errors[:ERRORS_SHOWN]
    context["can_undo"] = (
        lead_import.status == ImportStatus.DONE
        and lead_import.finished_at is not None
        and timezone.now() - lead_import.finished_at <= imports.UNDO_WINDOW
    )
    context["leads_url"] = reverse("handoff:lead-list") + f"?lead_import={lead_import.pk}"
    return render(request, screens.detail_template, context)


@_marketing_or_manager
@require_POST
def import_run(request: HttpRequest, pk: int, screens: ImportScreens = PAGE) -> HttpResponse:
    lead_import = _own_import(request, pk)
    try:
        imports.lead_import_queue(lead_import=lead_import)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(screens.url("detail", pk))


@_marketing_or_manager
@require_GET
def import_progress(request: HttpRequest, pk: int, screens: ImportScreens = PAGE) -> HttpResponse:
    """The progress bar, polled by the page while the import runs; once it is over, the page
    reloads to show the summary."""
    lead_import = _own_import(request, pk)
    context = {"imp": lead_import, "urls": screens.urls(pk)}
    response = render(request, "leads/_import_progress.html", context)
    if lead_import.status not in (ImportStatus.CHECKING, ImportStatus.QUEUED, ImportStatus.RUNNING):
        response["HX-Refresh"] = "true"
    return response


@_marketing_or_manager
@require_POST
def import_undo(request: HttpRequest, pk: int, screens: ImportScreens = PAGE) -> HttpResponse:
    lead_import = _own_import(request, pk)
    try:
        touched = imports.lead_import_undo(lead_import=lead_import, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Import undone: {touched:,} leads removed or restored.")
    return redirect(screens.url("detail", pk))


class _Echo:
    def write(self, value: str) -> str:
        return value


@_marketing_or_manager
@require_GET
def import_rejected_csv(
    request: HttpRequest, pk: int, screens: ImportScreens = PAGE
) -> StreamingHttpResponse:
    lead_import = LeadImport.objects.get(pk=_own_import(request, pk).pk)
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in imports.rejected_rows_csv(lead_import)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="rejected-rows-{pk}.csv"'
    return response
