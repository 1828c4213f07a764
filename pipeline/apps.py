from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"
    # The revenue rollup follows the handoff events through a database trigger (migration
    # 0008_revenue_dirty_day_trigger, pipeline.rollup.dirty_trigger_sql): the handoff app
    # imports nothing from pipeline, and an event's insert marks its day in the same statement.
