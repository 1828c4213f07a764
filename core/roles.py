"""Roles and the checks on them, in one module.

Roles are Django groups created by a data migration (leads/migrations/0002_roles.py); each
app's migrations grant its own models to them with `grant_permissions_in_migration`.
Every app asks these predicates; none tests group names itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Q
    from django.http import HttpRequest

    from core.types import Visitor

MARKETING = "Marketing"
SALES = "Sales"
SALES_MANAGER = "Sales Manager"
ALL_ROLES = (MARKETING, SALES, SALES_MANAGER)


# A user's role names, remembered per process for ROLE_CACHE_SECONDS: every request asks them
# (a query each). A change of groups through the ORM forgets them in this process at once
# (core.api.token_auth's signals); other processes see it when their entry expires.
_role_cache: dict[int, tuple[frozenset[str], float]] = {}
_ROLE_CACHE_MAX = 10_000


def _role_expiry() -> float:
    from django.conf import settings

    return float(getattr(settings, "ROLE_CACHE_SECONDS", 10.0))


def forget_roles(user_id: int | None = None) -> None:
    """Drop the remembered roles of one user (None: of everyone)."""
    if user_id is None:
        _role_cache.clear()
    else:
        _role_cache.pop(user_id, None)


# The attribute a request's user keeps its role names in (the cache above is per process).
_ON_USER = "_role_names"


def _groups(user: Visitor) -> frozenset[str]:
    user_id = user.pk
    if not getattr(user, "is_authenticated", False) or user_id is None:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, _ON_USER, None)
    if cached is None:
        now = time.monotonic()
        hit = _role_cache.get(user_id)
        if hit is not None and hit[1] > now:
            cached = hit[0]
        else:
            cached = frozenset(user.groups.values_list("name", flat=True))
            if len(_role_cache) >= _ROLE_CACHE_MAX:
                _role_cache.clear()
            _role_cache[user_id] = (cached, now + _role_expiry())
        setattr(user, _ON_USER, cached)
    return cached


def is_marketer(user: Visitor | None) -> bool:
    """False for nobody (the system acting, e.g. the sweep or an automatic rule)."""
    return (
        user is not None
        and user.is_authenticated
        and (user.is_superuser or MARKETING in _groups(user))
    )


def is_rep(user: Visitor | None) -> bool:
    """False for nobody (the system acting, e.g. the sweep or an automatic rule)."""
    return user is not None and user.is_authenticated and SALES in _groups(user)


def is_manager(user: Visitor | None) -> bool:
    """False for nobody (the system acting, e.g. the sweep or an automatic rule)."""
    return (
        user is not None
        and user.is_authenticated
        and (user.is_superuser or SALES_MANAGER in _groups(user))
    )


def marketer_q() -> Q:
    """A Q over users matching is_marketer, for queries that check many users at once."""
    from django.db.models import Q

    return Q(is_superuser=True) | Q(groups__name=MARKETING)


def can_write_leads(user: Visitor) -> bool:
    """Create and edit leads, record events, import: marketing and managers."""
    return is_marketer(user) or is_manager(user)


def can_edit_scoring(user: Visitor) -> bool:
    """Scoring rules and the MQL threshold belong to marketing (and managers)."""
    return is_marketer(user) or is_manager(user)


def roles_context(request: HttpRequest) -> dict[str, bool]:
    user = request.user
    return {
        "is_marketer": is_marketer(user),
        "is_rep": is_rep(user),
        "is_manager": is_manager(user),
    }


def grant_permissions_in_migration(apps: Any, grants: dict[str, dict[str, list[str]]]) -> None:
    """Give roles model permissions from a data migration: {role: {app_label: [model, ...]}}.

    Each app's own migration grants its own models, so no app's migrations reach upward.
    """
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, per_app in grants.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for app_label, model_names in per_app.items():
            group.permissions.add(
                *permission_model.objects.filter(
                    content_type__app_label=app_label, content_type__model__in=model_names
                )
            )
