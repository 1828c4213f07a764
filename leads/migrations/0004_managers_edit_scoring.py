"""Sales managers may edit the scoring rules and settings too (core.roles.can_edit_scoring)."""

from django.db import migrations

from core.roles import grant_permissions_in_migration

GRANTS = {"Sales Manager": {"leads": ["fitrule", "engagementrule", "scoringconfig"]}}


def grant(apps, schema_editor):
    grant_permissions_in_migration(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_idempotency_record")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
