"""Opportunity events are append-only, like handoff events (handoff migration 0006).

PostgreSQL: a BEFORE UPDATE OR DELETE trigger raises, with two exceptions:
- the erasure path, inside `handoff.erasure.audit_unlocked()` (`SET LOCAL app.erasure = 'on'`),
  may rewrite the payload (a lost deal's note) to remove personal data; the event's identity,
  kind, stages, moment, amounts, actor and opportunity cannot change and no row can be deleted;
- the actor of an account being deleted becomes NULL (the foreign key's SET NULL), nothing else.
TRUNCATE (how test databases are flushed) fires no row trigger and keeps working.

SQLite: the same rule for UPDATE, with the erasure switched on by a row in
handoff_audit_unlock (created by handoff migration 0006). No DELETE trigger: Django flushes
SQLite test databases with DELETE; PostgreSQL enforces it.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION opportunity_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id
       AND NEW.opportunity_id = OLD.opportunity_id
       AND NEW.kind = OLD.kind
       AND NEW.from_stage = OLD.from_stage
       AND NEW.to_stage = OLD.to_stage
       AND NEW.at = OLD.at
       AND NEW.amount_before IS NOT DISTINCT FROM OLD.amount_before
       AND NEW.amount_after IS NOT DISTINCT FROM OLD.amount_after THEN
        -- The account of the actor is being deleted: forget who, keep what.
        IF NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
           AND NEW.payload::text = OLD.payload::text THEN
            RETURN NEW;
        END IF;
        -- Erasure of a person's data: the payload's free text may be scrubbed, nothing else.
        IF current_setting('app.erasure', true) = 'on'
           AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'opportunity events are append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only the erasure service may scrub personal data from events.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER opportunity_event_append_only
    BEFORE UPDATE OR DELETE ON pipeline_opportunityevent
    FOR EACH ROW EXECUTE FUNCTION opportunity_event_append_only();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS opportunity_event_append_only ON pipeline_opportunityevent;
DROP FUNCTION IF EXISTS opportunity_event_append_only();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER opportunity_event_append_only
    BEFORE UPDATE ON pipeline_opportunityevent
    WHEN NOT (
        NEW.id = OLD.id
        AND NEW.opportunity_id = OLD.opportunity_id
        AND NEW.kind = OLD.kind
        AND NEW.from_stage = OLD.from_stage
        AND NEW.to_stage = OLD.to_stage
        AND NEW."at" = OLD."at"
        AND NEW.amount_before IS OLD.amount_before
        AND NEW.amount_after IS OLD.amount_after
        AND (
            (NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL AND NEW.payload = OLD.payload)
            OR (EXISTS (SELECT 1 FROM handoff_audit_unlock)
                AND NEW.actor_id IS OLD.actor_id)
        )
    )
    BEGIN
        SELECT RAISE(ABORT, 'opportunity events are append-only: UPDATE refused');
    END
    """,
]

SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS opportunity_event_append_only"]


def _run(schema_editor, statements):
    # Without parameters, so the driver does not read the plpgsql's % as placeholders.
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, [PG_FORWARD])
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, [PG_BACKWARD])
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0001_initial"),
        ("handoff", "0006_handoff_event_append_only"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
