"""Time to accept's rollup (PostgreSQL only): per zone, ISO week, team and rep, the sorted
minutes to accept of the handoffs accepted that week (handoff.rollup_accepts). A plain table,
no model: its arrays are PostgreSQL's, and SQLite computes the percentiles in Python from the
handoffs. The zones built so far have no such rows yet: their state is forgotten, so the next
read of a zone builds it whole, as a zone read for the first time is."""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS handoff_acceptweek (
    zone varchar(64) NOT NULL,
    week date NOT NULL,
    team_id bigint NULL,
    rep_id bigint NULL,
    wall double precision[] NOT NULL,
    business double precision[] NOT NULL
);
CREATE INDEX IF NOT EXISTS handoff_acceptweek_read ON handoff_acceptweek (zone, week);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)
        apps.get_model("handoff", "DashboardRefresh").objects.update(
            checked_at=None, watermark=None
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS handoff_acceptweek")


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0021_notification_outbox_lean_writes"),
    ]

    operations = [migrations.RunPython(create, drop)]
