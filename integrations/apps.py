from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import delivery
        from leads import events

        # Services publish events only when someone listens (see leads.events).
        events.subscribers = delivery.any_active_endpoint
