"""The task outbox's model now lives in core (core/migrations/0001): leads forgets it, state
only. The table (leads_outboxmessage) and its rows stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_history"),
        ("core", "0001_outbox_message_moved_from_leads"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxMessage")],
            database_operations=[],
        ),
    ]
