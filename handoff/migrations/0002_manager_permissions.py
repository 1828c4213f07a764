from django.db import migrations

from core.roles import grant_permissions_in_migration

GRANTS = {
    "Sales Manager": {
        "handoff": [
            "handoff",
            "handoffevent",
            "slapolicy",
            "businesscalendar",
            "workingwindow",
            "calendardate",
            "team",
            "teammembership",
            "notification",
        ],
    },
}


def grant(apps, schema_editor):
    grant_permissions_in_migration(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("handoff", "0001_initial"), ("leads", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
