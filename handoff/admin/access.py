"""Who sees the handoff app's admin screens: sales managers and superusers only (reps have no
admin, whatever their staff flag)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.roles import is_manager


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
