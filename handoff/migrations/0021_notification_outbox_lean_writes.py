"""The notification outbox is cheaper to write: its three foreign keys lose their database
constraints (Django still cascades and sets NULL in Python, as `on_delete` says), the unique
constraint notification_once_per_event goes (the sweep's claim is what makes a breach told
once; see handoff.models.notifications), and the kind `breaches` (a grouped breach alert) is
added to the choices.

On PostgreSQL the constraints are dropped by name: Django's AlterField sees no schema change in
`db_constraint` alone there. Dropping a constraint checks no row; each DROP takes the table's
ACCESS EXCLUSIVE lock for a moment (see docs/operations.md). SQLite keeps its REFERENCES
clauses (rebuilding the table for them would gain nothing there).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "handoff_notification"
# The names Django gave them in 0001 (and the unique constraint's in its model).
FOREIGN_KEYS = {
    "handoff_notification_event_id_cdd51392_fk_handoff_h": ("event_id", "handoff_handoffevent"),
    "handoff_notification_handoff_id_1a10ce19_fk_handoff_handoff_id": (
        "handoff_id",
        "handoff_handoff",
    ),
    "handoff_notification_recipient_id_f76c789a_fk_auth_user_id": ("recipient_id", "auth_user"),
}


def drop_foreign_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in FOREIGN_KEYS:
        schema_editor.execute(f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS "{name}"')


def add_foreign_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (column, target) in FOREIGN_KEYS.items():
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}")'
            f' REFERENCES "{target}" ("id") DEFERRABLE INITIALLY DEFERRED'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0020_notification_lean_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="notification",
            name="notification_once_per_event",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="notification",
                    name="event",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="handoff.handoffevent",
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="handoff",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to="handoff.handoff",
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="recipient",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_foreign_keys, add_foreign_keys),
            ],
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("assigned", "New handoff assigned"),
                    ("at_risk", "Handoff at risk"),
                    ("breached", "SLA breached"),
                    ("breaches", "SLA breaches, grouped"),
                    ("first_touch_at_risk", "First touch at risk"),
                    ("first_touch_breached", "First touch overdue"),
                    ("unassigned", "Handoff needs an owner"),
                    ("info_requested", "Sales asked for information"),
                    ("info_provided", "Marketing answered"),
                    ("returned", "Lead returned to marketing"),
                    ("disputed", "Marketing disputed a return"),
                    ("dispute_resolved", "A disputed return was resolved"),
                    ("re_engaged", "Lead re-engaged after return"),
                ],
                max_length=32,
            ),
        ),
    ]
