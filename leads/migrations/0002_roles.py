"""The three roles as Django groups, with the leads permissions each needs in the admin."""

from django.db import migrations

from core.roles import ALL_ROLES, grant_permissions_in_migration

GRANTS = {
    "Marketing": {
        "leads": [
            "lead",
            "campaign",
            "engagementevent",
            "fitrule",
            "engagementrule",
            "scoringconfig",
        ],
    },
    "Sales": {},
    "Sales Manager": {"leads": ["lead", "campaign", "engagementevent"]},
}


def create_roles(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for role in ALL_ROLES:
        group_model.objects.get_or_create(name=role)
    grant_permissions_in_migration(apps, GRANTS)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ALL_ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
