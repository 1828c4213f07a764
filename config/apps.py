from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The wiring layer: project-wide commands (`up`, `seed_demo`) that span every app."""

    name = "config"
    verbose_name = "Handoff desk"
