"""API token authentication with a short per-process memory of token -> user.

DRF's TokenAuthentication reads the token and its user on every request (one query, ~1 ms of
ORM work before the view starts). A sales rep working a queue sends the same token many times a
minute, so each process remembers the answer for TOKEN_CACHE_SECONDS:

- in this process a token's entry is dropped the moment the token is deleted or rotated (a new
  key for the user), or its user is saved inactive, deleted, or changes groups (signals below);
- another process drops it when its entry expires: a deleted token or a deactivated user is
  refused by every worker within TOKEN_CACHE_SECONDS.

Each request gets its own copy of the cached user, so nothing one request sets on it leaks to
the next.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core import roles

if TYPE_CHECKING:
    from core.types import Actor


def _expiry() -> float:
    return float(getattr(settings, "TOKEN_CACHE_SECONDS", 10.0))


_lock = threading.Lock()
# key -> (user, token, expires at on the monotonic clock)
_tokens: dict[str, tuple[Actor, Token, float]] = {}
_MAX_ENTRIES = 10_000


def forget_token(key: str) -> None:
    _tokens.pop(key, None)


def forget_user(user_id: int) -> None:
    with _lock:
        for key in [k for k, (user, _, _) in _tokens.items() if user.pk == user_id]:
            _tokens.pop(key, None)
    roles.forget_roles(user_id)


def forget_all() -> None:
    _tokens.clear()
    roles.forget_roles()


class CachedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, answered from this process's memory when it is fresh."""

    def authenticate_credentials(self, key: str) -> tuple[Actor, Token]:
        now = time.monotonic()
        hit = _tokens.get(key)
        if hit is not None and hit[2] > now:
            user, token, _ = hit
            return copy.copy(user), token
        user, token = super().authenticate_credentials(key)
        with _lock:
            if len(_tokens) >= _MAX_ENTRIES:
                _tokens.clear()
            _tokens[key] = (copy.copy(user), token, now + _expiry())
        return user, token


def _token_saved(sender: Any, instance: Token, **kwargs: Any) -> None:
    # A rotated token is a new key for the user: the old key's entry goes with the user's.
    forget_user(instance.user_id)


def _token_deleted(sender: Any, instance: Token, **kwargs: Any) -> None:
    forget_token(instance.key)
    forget_user(instance.user_id)


def _user_changed(sender: Any, instance: Actor, **kwargs: Any) -> None:
    forget_user(instance.pk)


def _groups_changed(sender: Any, instance: Any, action: str, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    if isinstance(instance, get_user_model()):
        forget_user(instance.pk)
    else:  # a group's members changed
        for user_id in pk_set or ():
            forget_user(user_id)
        if action == "post_clear":
            forget_all()


def connect_signals() -> None:
    user_model = get_user_model()
    post_save.connect(_token_saved, sender=Token, dispatch_uid="token_auth_saved")
    post_delete.connect(_token_deleted, sender=Token, dispatch_uid="token_auth_deleted")
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="token_auth_user_saved")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="token_auth_user_deleted")
    m2m_changed.connect(
        _groups_changed, sender=user_model.groups.through, dispatch_uid="token_auth_groups"
    )
