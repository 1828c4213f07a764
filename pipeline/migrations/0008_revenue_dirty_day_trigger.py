"""The revenue rollup's dirty-day mark for handoff events, as a database trigger.

Until now a post_save receiver (pipeline.apps) marked the promotion day of a handoff whose event
moved a figure: one more query in every accept, return or qualify request. The trigger on the
insert into the handoff events table does the same INSERT ... ON CONFLICT DO NOTHING with the
inserting transaction's id (PostgreSQL; 0 on SQLite), inside the statement that writes the event.
The statements are pipeline.dirty_marks.dirty_trigger_sql, for settings.TIME_ZONE (the
company's zone, the promotion day's); `manage.py rebuild_revenue_rollup` re-creates the function
for the zone of the day.
"""

from django.db import migrations


def install(apps, schema_editor):
    from pipeline import dirty_marks

    dirty_marks.install_dirty_trigger(schema_editor.connection)


def uninstall(apps, schema_editor):
    from pipeline import dirty_marks

    with schema_editor.connection.cursor() as cursor:
        for statement in dirty_marks.drop_dirty_trigger_sql(schema_editor.connection.vendor):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0007_history"),
        ("handoff", "0016_history"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
