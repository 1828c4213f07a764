from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"

    def ready(self) -> None:
        # Per-process memories of tokens and roles forget a user the moment it changes here.
        from core.api import token_auth

        token_auth.connect_signals()
