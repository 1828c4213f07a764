"""The notification outbox in the admin, read-only: what was queued, to whom, and when it was
sent."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from handoff.admin.access import ManagersOnly
from handoff.models import Notification
from leads.admin_tools import ReadOnlyRecord


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
