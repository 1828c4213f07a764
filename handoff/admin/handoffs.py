"""The handoff admin: read-only, with its clock, events and warm handoff packet, an SLA summary of
the filtered list above it, and a reassignment action that calls the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from core.errors import DomainError
from core.timefmt import minutes_label
from core.types import actor_of
from handoff import metrics, selectors, services
from handoff.admin.access import ManagersOnly
from handoff.admin.list_filters import AtRiskFilter, BreachedFilter, RepFilter
from handoff.models import Handoff, HandoffEvent
from leads.admin_tools import ReadOnlyRecord, json_table

EVENT_FIELDS = ("at", "kind", "from_status", "to_status", "actor", "reason", "note", "details")


class HandoffEventInline(admin.TabularInline):
    model = HandoffEvent
    extra = 0
    can_delete = False
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    ordering = ["id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="details")
    def details(self, obj: HandoffEvent) -> str:
        return json_table(obj.payload)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


HANDOFF_FIELDSETS: list[tuple[str | None, tuple[str, ...]]] = [
    (None, ("lead", "status", "assigned_to", "team", "attempt", "previous", "promoted_by",
            "context_note")),
    ("SLA", ("policy", "policy_table", "calendar", "created_at", "due_at", "at_risk_at",
             "at_risk_flagged_at", "breached_at", "time_left", "responded_at", "accepted_at",
             "accepted_late", "paused_at", "remaining_business_minutes", "paused_seconds_total",
             "pause_count")),
    ("First touch", ("first_touch_due_at", "first_touch_at_risk_at", "first_touch_breached_at",
                     "first_touch_at", "first_touch_channel")),
    ("Outcome", ("info_question", "info_answer", "qualified_at", "bant_table", "returned_at",
                 "return_reason_code", "return_note", "closed_at")),
    ("Warm handoff packet", ("score_snapshot", "breakdown_table", "engagement_table",
                             "history_table", "routing_table")),
]  # fmt: skip


def _short(moment: dt.datetime | None) -> str:
    """A changelist date in the site's zone, short enough for the column ("7 Dec 14:05")."""
    if moment is None:
        return "-"
    return date_format(timezone.localtime(moment), "j M H:i")


class HandoffChangeList(ChangeList):
    """The list reads no packet JSON: those columns are most of a handoff row's bytes (routing,
    snapshots), and parsing them for 50 rows the list never shows cost more than its queries."""

    DEFERRED = (
        "routing", "score_breakdown", "engagement_snapshot", "history_snapshot", "bant",
        "context_note", "return_note", "info_question", "info_answer",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        return super().get_queryset(request, exclude_parameters).defer(*self.DEFERRED)


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyRecord, ManagersOnly, admin.ModelAdmin):
    # Fits 1280 px beside the filters: the policy and attempt sit under the lead, the dates are
    # short and the clock, breached and late columns stay in view (templates/admin/handoff/
    # handoff/change_list.html keeps the cells compact).
    class Media:
        css = {"all": ["css/admin.css"]}  # no inline styles under the Content-Security-Policy

    list_display = [
        "id", "lead_and_attempt", "status", "assigned_to", "team", "created_short",
        "due_short", "time_left", "is_breached", "accepted_late",
    ]  # fmt: skip
    list_filter = [
        "status",
        BreachedFilter,
        AtRiskFilter,
        "accepted_late",
        ("team", admin.RelatedFieldListFilter),
        ("assigned_to", RepFilter),
        ("policy", admin.RelatedFieldListFilter),
        ("auto_rule", admin.RelatedFieldListFilter),
        # A list filter, not date_hierarchy: the hierarchy runs DISTINCT dates and MIN/MAX over
        # the whole filtered set on every view (0.1-0.5 s at 100,000 handoffs).
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = [
        "lead", "assigned_to", "team", "team__calendar", "policy", "calendar",
    ]  # fmt: skip
    # The "(N total)" beside a filtered count costs a count of every handoff on each view.
    show_full_result_count = False
    # Each word: the lead's names, email, company or domain, or the handoff's number (see
    # get_search_results).
    search_fields = ["lead__search_text"]
    search_help_text = "Lead name, email, company or domain, or a handoff number."
    ordering = ["-created_at"]  # the changelist adds -pk as the tiebreak; one sort mark, not two
    inlines = [HandoffEventInline]
    actions = ["reassign_to_next_rep"]
    list_per_page = 50
    fieldsets = [(title, {"fields": names}) for title, names in HANDOFF_FIELDSETS]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A handoff changes only through the services (claims, events, notifications).
        return [name for _, names in HANDOFF_FIELDSETS for name in names]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.handoffs_visible_to(request.user)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """The admin's words (quotes keep a phrase together), searched by
        selectors.handoffs_matching: every word in the lead's text, or a handoff number."""
        words = []
        for bit in smart_split(search_term.replace("\x00", "")):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            if bit.strip():
                words.append(bit.strip())
        return selectors.handoffs_matching(queryset, words=words), False

    @admin.display(description="lead (policy, attempt)", ordering="lead__email")
    def lead_and_attempt(self, obj: Handoff) -> str:
        return format_html(
            '{}<br><span class="quiet">{} · attempt {}</span>',
            str(obj.lead),
            self.policy_name(obj),
            obj.attempt,
        )

    @admin.display(description="promoted", ordering="created_at")
    def created_short(self, obj: Handoff) -> str:
        return _short(obj.created_at)

    @admin.display(description="deadline", ordering="due_at")
    def due_short(self, obj: Handoff) -> str:
        return _short(obj.due_at)

    @admin.display(description="policy snapshot")
    def policy_table(self, obj: Handoff) -> str:
        return json_table(obj.policy_snapshot)

    @admin.display(description="score breakdown")
    def breakdown_table(self, obj: Handoff) -> str:
        return json_table(obj.score_breakdown)

    @admin.display(description="engagement as promoted")
    def engagement_table(self, obj: Handoff) -> str:
        return json_table(obj.engagement_snapshot)

    @admin.display(description="earlier handoffs")
    def history_table(self, obj: Handoff) -> str:
        return json_table(obj.history_snapshot)

    @admin.display(description="why this rep (routing)")
    def routing_table(self, obj: Handoff) -> str:
        return json_table(obj.routing)

    @admin.display(description="BANT")
    def bant_table(self, obj: Handoff) -> str:
        return json_table(obj.bant)

    @admin.display(description="policy")
    def policy_name(self, obj: Handoff) -> str:
        snap = obj.policy_snapshot or {}
        return f"{snap.get('name', '-')} v{snap.get('version', '?')}" if snap else "-"

    @admin.display(description="time left / late by")
    def time_left(self, obj: Handoff) -> str:
        clock = selectors.accept_clock(obj)
        label = selectors.clock_label(clock)
        if clock.late:
            return format_html('<strong class="admin-late">{}</strong>', label)
        return label or "-"

    @admin.display(description="breached", boolean=True)
    def is_breached(self, obj: Handoff) -> bool:
        return obj.breached_at is not None or bool(
            obj.status == "pending" and obj.due_at and obj.due_at <= timezone.now()
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return HandoffChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, with an SLA summary of the filtered set above it (handoff.metrics.summary:
        one aggregate query over the changelist's own filtered queryset, whatever the page
        size)."""
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        cl = context.get("cl") if context else None
        if context is not None and cl is not None:
            summary = metrics.summary(cl.queryset, now=timezone.now())
            summary["wall_median_label"] = minutes_label(summary["median_minutes_to_accept"])
            summary["business_median_label"] = minutes_label(
                summary["median_business_minutes_to_accept"], business=True
            )
            summary["breached_url"] = cl.get_query_string({"breached": "yes"})
            summary["at_risk_url"] = cl.get_query_string({"at_risk": "yes"})
            context["sla_summary"] = summary
        return response

    @admin.action(description="Reassign to the next rep in the rotation", permissions=["change"])
    def reassign_to_next_rep(self, request: HttpRequest, queryset: QuerySet) -> None:
        done, refused = 0, []
        for handoff in queryset.select_related("lead", "team", "calendar", "assigned_to"):
            try:
                new = services.handoff_reassign(
                    handoff=handoff, actor=actor_of(request), reason="reassigned from the admin"
                )
            except DomainError as exc:
                refused.append(f"#{handoff.pk}: {exc.message}")
                continue
            done += 1
            if new.assigned_to_id is None:
                refused.append(f"#{handoff.pk}: nobody available, #{new.pk} is in your queue")
        if done:
            self.message_user(request, f"Reassigned {done} handoff(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)
