"""A partial index of the handoffs of product-qualified leads, for the feedback metrics' one
pass (PostgreSQL only).

feedback.selectors.payload counts the PQL handoffs (PQL criteria recorded at promotion) apart:
the criteria are JSON in the wide handoff row, so without this index counting them would read
every row. The index holds only the PQL handoffs (few), with what the PQL/MQL table counts, so
it is an index-only scan; MQLs are every handoff less those. Here rather than in handoff.models:
the handoff app does not know what pipeline and feedback read.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS handoff_feedback_pql ON handoff_handoff "
    "(created_at) INCLUDE (updated_at, status, return_reason_code, team_id, lead_source, "
    "lead_campaign_id) WHERE pql_criteria <> '[]'::jsonb"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS handoff_feedback_pql")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: no lock on the handoffs while it builds

    dependencies = [("pipeline", "0008_revenue_dirty_day_trigger")]

    operations = [migrations.RunPython(create, drop)]
