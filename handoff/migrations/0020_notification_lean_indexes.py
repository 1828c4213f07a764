"""Notification.event loses its own index: the unique constraint notification_once_per_event
(event, recipient, kind) leads with the same column and serves every lookup by event.

Only the index is dropped. Django's AlterField would also drop and re-add the foreign key,
and re-adding it checks every outbox row under a lock: hours on a table of millions. A plain
DROP INDEX takes the table's ACCESS EXCLUSIVE lock only for the moment of the drop (see
docs/operations.md); DROP INDEX CONCURRENTLY cannot run inside a migration's transaction.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "handoff_notification_event_id_cdd51392"  # the name Django gave it in 0001


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0019_dashboard_week_rows"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="notification",
                    name="event",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="handoff.handoffevent",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}"'
                    ' ON "handoff_notification" ("event_id")',
                ),
            ],
        ),
    ]
