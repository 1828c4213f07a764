from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"

    def ready(self) -> None:
        # leads cannot import handoff: it calls the hooks registered here when events arrive.
        from handoff import autopromotion
        from leads import hooks

        hooks.on_events_recorded(autopromotion.auto_promote_on_events)
