from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"

    def ready(self) -> None:
        # The handoff app must not import pipeline: the revenue rollup follows its event rows.
        from django.db.models.signals import post_save

        from handoff.models import HandoffEvent
        from pipeline import rollup

        post_save.connect(
            rollup.on_handoff_event, sender=HandoffEvent, dispatch_uid="pipeline.revenue_rollup"
        )
