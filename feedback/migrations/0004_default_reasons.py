"""Seed the default rejection reasons, so a fresh install can return leads at once.

A frozen copy of feedback.taxonomy.DEFAULT_REASONS as it stood when this migration was written
(migrations must not change behaviour when the app code changes later). Only missing codes are
added; reversing leaves the rows alone (they may be referenced by returns).
"""

from django.db import migrations

REASONS = [
    ("not-icp", "Not our ICP", "fit", True, "disqualify", 0, 10),
    ("no-budget", "No budget", "fit", False, "recycle", 90, 20),
    ("no-authority", "No authority (wrong person)", "fit", True, "recycle", 30, 30),
    ("not-ready", "Not ready yet", "timing", False, "recycle", 60, 40),
    ("bad-data", "Bad contact data", "data_quality", True, "recycle", 14, 50),
    ("duplicate", "Duplicate of another lead", "duplicate", True, "disqualify", 0, 60),
    ("existing-customer", "Already a customer", "duplicate", False, "disqualify", 0, 70),
    ("competitor", "Competitor", "fit", False, "disqualify", 0, 80),
    ("student", "Student / job seeker", "fit", False, "disqualify", 0, 90),
    ("spam", "Spam or fake sign-up", "data_quality", False, "disqualify", 0, 100),
]


def seed(apps, schema_editor):
    reason_model = apps.get_model("feedback", "RejectionReason")
    existing = set(reason_model.objects.values_list("code", flat=True))
    reason_model.objects.bulk_create(
        reason_model(
            code=code,
            label=label,
            category=category,
            note_required=note_required,
            effect=effect,
            recycle_days=recycle_days,
            display_order=order,
        )
        for code, label, category, note_required, effect, recycle_days, order in REASONS
        if code not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("feedback", "0003_queue_and_dispute_indexes")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
