"""The feedback rollup (feedback.rollup): the table, the triggers on the handoffs table that
keep it exact in the writing transaction, and its first fill from the handoffs already there."""

from django.db import migrations, models


def install(apps, schema_editor):
    from feedback import rollup

    rollup.install_triggers(schema_editor.connection)
    rollup.rebuild(schema_editor.connection)


def uninstall(apps, schema_editor):
    from feedback import rollup

    with schema_editor.connection.cursor() as cursor:
        for statement in rollup.drop_trigger_sql(schema_editor.connection.vendor):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0007_history"),
        ("handoff", "0018_audit_more_configuration"),
    ]

    operations = [
        migrations.CreateModel(
            name="FeedbackRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("period", models.DateField(help_text="First day of the month of promotion (site zone)")),
                ("kind", models.SmallIntegerField(default=0)),
                ("lead_source", models.CharField(blank=True, max_length=32)),
                ("lead_campaign_id", models.BigIntegerField(null=True)),
                ("score", models.IntegerField()),
                ("team_id", models.BigIntegerField(null=True)),
                ("assigned_to_id", models.BigIntegerField(null=True)),
                ("return_reason_code", models.CharField(blank=True, max_length=50)),
                ("pql", models.BooleanField()),
                ("handoffs", models.IntegerField()),
                ("open", models.IntegerField()),
                ("accepted", models.IntegerField()),
                ("qualified", models.IntegerField()),
                ("returned", models.IntegerField()),
                ("delta", models.BooleanField(default=False)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["period"], name="feedback_rollup_period"),
                    models.Index(condition=models.Q(("delta", True)), fields=["period"], name="feedback_rollup_delta"),
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
