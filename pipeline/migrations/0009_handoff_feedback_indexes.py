"""Covering indexes on the handoffs for the feedback metrics' one pass (PostgreSQL only).

feedback.selectors.payload counts every handoff of the range by source, campaign, score, team,
rep, return reason and status in one statement. The handoff rows carry ~2 kB of JSON snapshots
each: read from the table, the pass reads gigabytes at a million handoffs. These indexes hold
just the columns it reads, so it is an index-only scan:
- handoff_feedback_pass: every handoff by promotion time, with the grouped columns (and
  updated_at, the date-range bound the analytics add);
- handoff_feedback_pql: the handoffs of product-qualified leads (PQL criteria recorded), few,
  with what the PQL/MQL table counts; MQLs are the rest.
Here rather than in handoff.models: the handoff app does not know what pipeline and feedback read.
"""

from django.db import migrations

PASS = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS handoff_feedback_pass ON handoff_handoff "
    "(created_at) INCLUDE (updated_at, status, lead_source, lead_campaign_id, score_snapshot, "
    "team_id, assigned_to_id, return_reason_code)"
)
PQL = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS handoff_feedback_pql ON handoff_handoff "
    "(created_at) INCLUDE (updated_at, status, return_reason_code, team_id, lead_source, "
    "lead_campaign_id) WHERE pql_criteria <> '[]'::jsonb"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PASS)
        cursor.execute(PQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS handoff_feedback_pass")
        cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS handoff_feedback_pql")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: no lock on the handoffs while it builds

    dependencies = [("pipeline", "0008_revenue_dirty_day_trigger")]

    operations = [migrations.RunPython(create, drop)]
