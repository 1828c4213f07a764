"""Admin for managers: the reason taxonomy, and the returns with marketing's answers.

Writes that carry rules (acknowledge, resolve a dispute, reopen a lead) go through the services
from admin actions; the change form shows a return read-only, without a Save button."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.errors import DomainError
from feedback import services
from feedback.models import DigestDelivery, RejectionReason, ReturnFeedback
from handoff.services import lead_reopen
from leads.admin_tools import ReadOnlyRecord


@admin.register(RejectionReason)
class RejectionReasonAdmin(SimpleHistoryAdmin):
    list_display = [
        "label",
        "code",
        "category",
        "effect",
        "recycle_days",
        "note_required",
        "contradicts_rule",
        "active",
        "display_order",
    ]
    list_editable = ["active", "display_order"]
    list_filter = ["category", "effect", "active", "note_required"]
    search_fields = ["code", "label"]
    list_select_related = ["contradicts_rule"]
    ordering = ["display_order", "label"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Returns and the analytics refer to reasons by code: once created it stays; retire a
        # reason by unticking `active` instead.
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.returns.exists():
            return False
        return super().has_delete_permission(request, obj)


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Waiting for marketing"), ("yes", "Acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


@admin.register(ReturnFeedback)
class ReturnFeedbackAdmin(ReadOnlyRecord, admin.ModelAdmin):
    list_display = [
        "returned_at",
        "lead",
        "lead_company",
        "reason",
        "returned_by",
        "lead_effect",
        "is_acknowledged",
        "follow_up",
        "dispute_status",
    ]
    list_filter = [
        AcknowledgedFilter,
        "follow_up",
        "dispute_status",
        "reason",
        "reason__category",
        "lead_effect",
    ]
    search_fields = ["lead__search_text", "note", "reply"]
    date_hierarchy = "returned_at"
    list_select_related = ["lead", "reason", "returned_by"]
    ordering = ["-returned_at", "-id"]
    actions = ["uphold_disputes", "overturn_disputes", "reopen_leads"]
    readonly_fields = [
        "handoff",
        "lead",
        "reason",
        "note",
        "returned_by",
        "returned_at",
        "lead_effect",
        "effect_note",
        "recycle_until",
        "acknowledged_at",
        "acknowledged_by",
        "reply",
        "follow_up",
        "dispute_status",
        "dispute_resolved_by",
        "dispute_resolved_at",
        "dispute_resolution",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A return is made by returning a handoff (feedback_return_handoff), never by hand.
        return False

    @admin.display(description="company", ordering="lead__company")
    def lead_company(self, obj: ReturnFeedback) -> str:
        return obj.lead.company

    @admin.display(description="acknowledged", boolean=True, ordering="acknowledged_at")
    def is_acknowledged(self, obj: ReturnFeedback) -> bool:
        return obj.acknowledged_at is not None

    def _each(self, request: HttpRequest, queryset: QuerySet, verb: str, call: Any) -> None:
        done, refused = 0, []
        for feedback in queryset.select_related("lead"):
            try:
                call(feedback)
                done += 1
            except DomainError as exc:
                refused.append(f"#{feedback.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{verb} {done} return(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Uphold the selected disputes (the return stands)")
    def uphold_disputes(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "Upheld",
            lambda fb: services.feedback_resolve_dispute(
                feedback=fb, actor=request.user, upheld=True, resolution="Upheld in the admin."
            ),
        )

    @admin.action(description="Overturn the selected disputes (reopen the lead)")
    def overturn_disputes(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "Overturned",
            lambda fb: services.feedback_resolve_dispute(
                feedback=fb,
                actor=request.user,
                upheld=False,
                resolution="Overturned in the admin.",
            ),
        )

    @admin.action(description="Reopen the selected returns' disqualified leads")
    def reopen_leads(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "Reopened the lead of",
            lambda fb: lead_reopen(
                lead=fb.lead, actor=request.user, reason="Reopened in the admin."
            ),
        )


@admin.register(DigestDelivery)
class DigestDeliveryAdmin(admin.ModelAdmin):
    """Who got which week's alignment digest, and what failed (read-only: beat sends)."""

    list_display = ["week", "email", "sent_at", "attempts", "last_error"]
    list_filter = ["week", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "week"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
