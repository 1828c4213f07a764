"""Admin screens of the integrations, for sales managers: endpoints (the secret shown once, at
creation and at rotation), the messages with their delivery log ("redeliver"), "replay since"
for endpoints, CRM integrations and the events they sent (rejected ones say why)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core.errors import DomainError
from core.roles import is_manager
from integrations import services
from integrations.models import Attempt, CrmIntegration, Endpoint, InboundEvent, Message


class ManagersOnly:
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


class ReadOnly:
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = forms.JSONField(
        required=False,
        initial=["*"],
        help_text='A list of event type names, or ["*"] for all: '
        + ", ".join(services.EVENT_TYPES),
    )

    class Meta:
        model = Endpoint
        fields = ["kind", "url", "description", "event_types", "team", "active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            if "url" in data:
                data["url"] = services.clean_url(data["url"])
            data["event_types"] = services.clean_event_types(
                data.get("event_types"), kind=data.get("kind") or Endpoint.Kind.WEBHOOK
            )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


class ReplayForm(ActionForm):
    since = forms.SplitDateTimeField(
        required=False,
        label="Since (UTC)",
        widget=forms.SplitDateTimeWidget(
            date_attrs={"type": "date"}, time_attrs={"type": "time", "step": "1"}
        ),
    )


@admin.register(Endpoint)
class EndpointAdmin(ManagersOnly, admin.ModelAdmin):
    form = EndpointForm
    action_form = ReplayForm
    list_display = ["id", "kind", "url", "description", "team", "active", "failing_since"]
    list_filter = ["kind", "active"]
    readonly_fields = [
        "created_at",
        "updated_at",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "previous_secret_expires_at",
    ]
    actions = ["rotate_secret", "replay_since"]

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in form.Meta.fields}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            services.endpoint_update(endpoint=obj, data=changed, actor=request.user)
            return
        created = services.endpoint_create(data=data, actor=request.user)
        obj.pk = created.pk
        messages.warning(
            request,
            f"Signing secret of {created.url} (shown this once; store it now): {created.secret}",
        )

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        services.endpoint_delete(endpoint=obj, actor=request.user)

    @admin.action(description="Rotate the signing secret (old one signs 24 h more)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
            messages.warning(
                request,
                f"New signing secret of {endpoint.url} (shown this once): {endpoint.secret}",
            )

    @admin.action(description="Replay since the date and time given")
    def replay_since(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        try:
            since = forms.SplitDateTimeField().clean(
                [request.POST.get("since_0", ""), request.POST.get("since_1", "")]
            )
        except forms.ValidationError:
            since = None
        if since is None:
            messages.error(request, "Give the date and time to replay from.")
            return
        if timezone.is_naive(since):
            since = timezone.make_aware(since, timezone.get_current_timezone())
        for endpoint in queryset:
            try:
                count = services.endpoint_replay_since(
                    endpoint=endpoint, since=since, actor=request.user
                )
            except DomainError as exc:
                messages.error(request, exc.message)
                return
            messages.success(request, f"{count} message(s) will be sent again to {endpoint.url}.")


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = ["at", "status_code", "latency_ms", "error", "response_excerpt"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ManagersOnly, ReadOnly, admin.ModelAdmin):
    list_display = [
        "id",
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["=event_id"]
    inlines = [AttemptInline]
    actions = ["redeliver"]
    show_full_result_count = False

    @admin.action(description="Redeliver the selected messages")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = 0
        for message in queryset:
            services.message_redeliver(message=message, actor=request.user)
            count += 1
        messages.success(request, f"{count} message(s) will be sent again.")


@admin.register(Attempt)
class AttemptAdmin(ManagersOnly, ReadOnly, admin.ModelAdmin):
    list_display = ["at", "endpoint", "message", "status_code", "latency_ms", "error"]
    list_filter = ["endpoint", "status_code"]
    list_select_related = ["endpoint", "message"]
    show_full_result_count = False


@admin.register(CrmIntegration)
class CrmIntegrationAdmin(ManagersOnly, admin.ModelAdmin):
    list_display = ["name", "active", "created_at", "previous_secret_expires_at"]
    fields = ["name", "active"]
    actions = ["rotate_secret"]

    def save_model(
        self, request: HttpRequest, obj: CrmIntegration, form: Any, change: bool
    ) -> None:
        if change:
            obj.save(update_fields=["name", "active"])
            return
        created = services.crm_integration_create(name=obj.name, actor=request.user)
        obj.pk = created.pk
        messages.warning(
            request,
            f"Signing secret of {created.name} (shown this once; give it to the CRM): "
            f"{created.secret}",
        )

    @admin.action(description="Rotate the signing secret (old one accepted 24 h more)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[CrmIntegration]) -> None:
        for integration in queryset:
            services.crm_integration_rotate_secret(integration=integration, actor=request.user)
            messages.warning(
                request, f"New secret of {integration.name} (shown this once): {integration.secret}"
            )


@admin.register(InboundEvent)
class InboundEventAdmin(ManagersOnly, ReadOnly, admin.ModelAdmin):
    list_display = ["received_at", "integration", "event_type", "webhook_id", "status", "error"]
    list_filter = ["status", "event_type", "integration"]
    list_select_related = ["integration"]
    search_fields = ["=webhook_id"]
    show_full_result_count = False
