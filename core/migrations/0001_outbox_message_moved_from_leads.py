"""The task outbox's model moves from leads to core, its table (leads_outboxmessage) untouched.

State only: on an existing database the table is there already; on a fresh one leads' own
migration 0006 creates it (leads' migration 0015 removes the model from leads' state, after
this one). No row moves, no table is renamed.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("task", models.CharField(max_length=200)),
                        ("kwargs", models.JSONField(blank=True, default=dict)),
                        ("dedupe_key", models.CharField(blank=True, max_length=255)),
                        ("created_at", models.DateTimeField()),
                        ("available_at", models.DateTimeField()),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("last_error", models.TextField(blank=True)),
                        ("published_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "leads_outboxmessage",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("published_at__isnull", True)),
                                fields=["available_at", "id"],
                                name="outbox_pending",
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(
                                    ("published_at__isnull", True),
                                    models.Q(("dedupe_key", ""), _negated=True),
                                ),
                                fields=("dedupe_key",),
                                name="outbox_pending_dedupe",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
