"""Admin for sales managers: handoffs (read-only, with their clock and events, reassigned by an
action calling the service), business calendars, SLA policies, teams, and the notification outbox.

Reps have no admin: handoff screens answer only to managers (and superusers), whatever a user's
staff flag, and reps work from their queue pages and the API.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import holidays
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from simple_history.admin import SimpleHistoryAdmin

from core.errors import DomainError
from core.roles import SALES, can_edit_scoring, is_manager
from handoff import autopromotion, metrics, selectors, services
from handoff import time_off as time_off_service
from handoff.filters import at_risk_q, breached_q
from handoff.models import (
    AutoPromotion,
    AutoPromotionRule,
    BusinessCalendar,
    CalendarDate,
    Handoff,
    HandoffEvent,
    Notification,
    SlaPolicy,
    Team,
    TeamMembership,
    TimeOff,
    WorkingWindow,
)
from leads.admin_tools import ReadOnlyRecord, json_table
from leads.models import Source


class ManagersOnly:
    """Admin screens of the handoff app answer only to sales managers and superusers."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_manager(request.user) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_manager(request.user) and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user) and super().has_delete_permission(request, obj)  # type: ignore[misc]


# --- handoffs ---------------------------------------------------------------------------------


class BreachedFilter(admin.SimpleListFilter):
    title = "breached"
    parameter_name = "breached"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Breached"), ("no", "Not breached")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        q = breached_q(timezone.now())
        if self.value() == "yes":
            return queryset.filter(q)
        if self.value() == "no":
            return queryset.exclude(q)
        return queryset


class AtRiskFilter(admin.SimpleListFilter):
    title = "at risk"
    parameter_name = "at_risk"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "At risk now")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(at_risk_q(timezone.now()))
        return queryset


class RepFilter(admin.RelatedFieldListFilter):
    """The assigned rep, among the sales reps: the choices come from the users, not from a
    DISTINCT over every handoff (which RelatedOnlyFieldListFilter runs on each page view)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        reps = (
            get_user_model()
            .objects.filter(groups__name=SALES)
            .order_by("first_name", "last_name", "username")
        )
        return [(user.pk, user.get_full_name() or user.get_username()) for user in reps]


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


def _short(moment: Any) -> str:
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
            summary["wall_median_label"] = metrics.minutes_label(
                summary["median_minutes_to_accept"]
            )
            summary["business_median_label"] = metrics.minutes_label(
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
                    handoff=handoff, actor=request.user, reason="reassigned from the admin"
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


# --- calendars --------------------------------------------------------------------------------


class WorkingWindowInline(admin.TabularInline):
    model = WorkingWindow
    extra = 0


class CalendarDateInline(admin.TabularInline):
    model = CalendarDate
    extra = 0


class BusinessCalendarForm(forms.ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ["name", "timezone", "holiday_country", "holiday_subdivision"]

    def clean_timezone(self) -> str:
        value = self.cleaned_data["timezone"].strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise forms.ValidationError(f"{value!r} is not an IANA time zone.") from exc
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        country = (data.get("holiday_country") or "").upper()
        subdivision = data.get("holiday_subdivision") or ""
        supported = holidays.list_supported_countries()
        if country and country not in supported:
            self.add_error("holiday_country", f"No public holidays known for {country!r}.")
        elif subdivision and not country:
            self.add_error("holiday_subdivision", "Give the country first.")
        elif country and subdivision and subdivision not in supported[country]:
            self.add_error("holiday_subdivision", f"{country} has no subdivision {subdivision!r}.")
        data["holiday_country"] = country
        return data


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ManagersOnly, SimpleHistoryAdmin):
    form = BusinessCalendarForm
    list_display = ["name", "timezone", "holiday_country", "holiday_subdivision", "updated_at"]
    search_fields = ["name"]
    inlines = [WorkingWindowInline, CalendarDateInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Windows and dates were saved after the calendar row: move updated_at again so no
        # process keeps a copy built in between.
        services.calendar_touch(calendar=form.instance)


# --- policies ---------------------------------------------------------------------------------


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = [
            "name", "active", "precedence", "team", "min_score", "max_score", "sources",
            "requires_high_intent", "calendar", "accept_within_minutes",
            "first_touch_within_minutes", "at_risk_ratio", "notify_manager_on_breach",
            "reassign_on_breach", "max_reassignments", "skip_reps_off_hours",
        ]  # fmt: skip

    def clean_at_risk_ratio(self) -> float:
        value = self.cleaned_data["at_risk_ratio"]
        if not 0 < value <= 1:
            raise forms.ValidationError("Give a share of the window between 0 and 1, e.g. 0.75.")
        return float(value)

    def clean_sources(self) -> list[str]:
        value = self.cleaned_data.get("sources") or []
        if not isinstance(value, list) or any(s not in Source.values for s in value):
            raise forms.ValidationError(f"A list of sources among: {', '.join(Source.values)}.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("min_score"), data.get("max_score")
        if low is not None and high is not None and low > high:
            self.add_error("max_score", "The maximum score is below the minimum.")
        if data.get("accept_within_minutes") == 0:
            self.add_error("accept_within_minutes", "Give at least one business minute.")
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ManagersOnly, SimpleHistoryAdmin):
    form = SlaPolicyForm
    list_display = [
        "name", "version", "precedence", "team", "min_score", "max_score", "sources",
        "requires_high_intent", "accept_within_minutes", "first_touch_within_minutes",
        "at_risk_ratio", "reassign_on_breach", "skip_reps_off_hours", "active",
    ]  # fmt: skip
    list_filter = ["active", "team", "requires_high_intent", "reassign_on_breach"]
    list_select_related = ["team"]
    readonly_fields = ["version", "updated_at"]
    search_fields = ["name"]

    def save_model(self, request: HttpRequest, obj: SlaPolicy, form: Any, change: bool) -> None:
        services.sla_policy_save(policy=obj, actor=request.user)


# --- teams ------------------------------------------------------------------------------------


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ["rep", "position", "weight", "capacity", "is_away", "calendar", "active"]
    autocomplete_fields = ["rep"]


@admin.register(Team)
class TeamAdmin(ManagersOnly, SimpleHistoryAdmin):
    list_display = [
        "name", "priority", "calendar", "manager", "rules", "member_count", "active",
    ]  # fmt: skip
    list_select_related = ["calendar", "manager"]
    list_filter = ["active"]
    readonly_fields = ["rotation_position"]
    inlines = [TeamMembershipInline]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description="members", ordering="members")
    def member_count(self, obj: Any) -> int:
        return int(getattr(obj, "members", 0))

    @admin.display(description="takes")
    def rules(self, obj: Team) -> str:
        parts = []
        for label, value in (
            ("regions", obj.match_regions),
            ("countries", obj.match_countries),
            ("industries", obj.match_industries),
            ("sizes", obj.match_employee_bands),
        ):
            if value:
                parts.append(f"{label} {', '.join(map(str, value))}")
        if obj.match_min_score is not None or obj.match_max_score is not None:
            parts.append(f"score {obj.match_min_score or 0}..{obj.match_max_score or '-'}")
        return "; ".join(parts) or "everything (catch-all)"


# --- the outbox -------------------------------------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(ReadOnlyRecord, ManagersOnly, admin.ModelAdmin):
    list_display = ["created_at", "kind", "to_email", "subject", "attempts", "sent_at"]
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["to_email", "subject"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False


# --- auto-promotion: marketing's rules, and what each firing came to -------------------------


class AutoPromotionRuleForm(forms.ModelForm):
    class Meta:
        model = AutoPromotionRule
        fields = [
            "name", "active", "event_kinds", "within_minutes", "min_score", "sources",
            "campaigns", "fit_rules", "requires_pql", "hold_outside_hours", "max_per_hour", "order",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        problem = autopromotion.rule_problem(
            event_kinds=data.get("event_kinds"),
            sources=data.get("sources") if data.get("sources") is not None else [],
            within_minutes=data.get("within_minutes"),
        )
        if problem:
            self.add_error(problem[0], problem[1])
        return data


@admin.register(AutoPromotionRule)
class AutoPromotionRuleAdmin(admin.ModelAdmin):
    """Marketing's rules. `active` is editable in the list: unticking it stops the rule for the
    next event that arrives."""

    form = AutoPromotionRuleForm
    list_display = [
        "name", "active", "event_kinds", "within_minutes", "min_score", "hold_outside_hours",
        "max_per_hour", "order",
    ]  # fmt: skip
    list_editable = ["active", "order"]
    list_filter = ["active", "hold_outside_hours"]
    search_fields = ["name"]
    filter_horizontal = ["campaigns", "fit_rules"]

    def _can(self, request: HttpRequest) -> bool:
        return can_edit_scoring(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._can(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._can(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can(request)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        autopromotion.auto_promotion_rule_save(rule=obj, actor=request.user)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        autopromotion.auto_promotion_rule_delete(rule=obj, actor=request.user)


@admin.register(AutoPromotion)
class AutoPromotionAdmin(admin.ModelAdmin):
    """The log of firings, read-only: filter by outcome to see the leads held for working hours
    or over a rule's hourly ceiling (those wait for a marketer)."""

    list_display = [
        "created_at", "rule_name", "lead", "event_kind", "signal_at", "outcome", "code",
        "handoff", "release_at",
    ]  # fmt: skip
    list_filter = ["outcome", "rule", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["lead", "handoff"]
    show_full_result_count = False
    raw_id_fields = ["lead", "handoff"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_edit_scoring(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_edit_scoring(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TimeOffAdminForm(forms.ModelForm):
    class Meta:
        model = TimeOff
        fields = ["rep", "starts_on", "ends_on", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rep_field = self.fields.get("rep")
        if isinstance(rep_field, forms.ModelChoiceField):
            rep_field.queryset = get_user_model().objects.filter(is_active=True, groups__name=SALES)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or not all(data.get(f) for f in ("rep", "starts_on", "ends_on")):
            return data
        try:
            time_off_service.time_off_check(
                rep=data["rep"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                note=data.get("note") or "",
            )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    """Managers set anyone's time off here too (or on the time-off page). A range is added or
    removed, never edited in place: the check for overlaps runs in the service."""

    form = TimeOffAdminForm
    list_display = ["rep", "starts_on", "ends_on", "note", "created_by"]
    list_filter = ["starts_on"]
    search_fields = ["rep__username", "rep__first_name", "rep__last_name", "note"]
    list_select_related = ["rep", "created_by"]
    date_hierarchy = "starts_on"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: TimeOff, form: Any, change: bool) -> None:
        created = time_off_service.time_off_create(
            actor=request.user,
            rep=obj.rep,
            starts_on=obj.starts_on,
            ends_on=obj.ends_on,
            note=obj.note,
        )
        obj.pk = created.pk
