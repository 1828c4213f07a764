from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The wiring layer: project-wide commands (`up`, `seed_demo`, `erase_lead`) that span every
    app, and the admin action that erases a lead's personal data (config.erasure)."""

    name = "config"
    verbose_name = "Handoff desk"

    def ready(self) -> None:
        # The admin registered every app's ModelAdmin in its own ready() (it comes first).
        from config.erasure import register_admin_action

        register_admin_action()
