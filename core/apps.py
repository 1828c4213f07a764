"""The core app: the outbox's model, and the per-process memories of tokens and roles that
forget a user the moment it changes."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from core.api import token_auth

        token_auth.connect_signals()
