"""Handoff events are append-only: the database refuses UPDATE and DELETE of their rows.

PostgreSQL: a BEFORE UPDATE OR DELETE trigger raises, with two exceptions:
- the erasure path (handoff.erasure), which sets `SET LOCAL app.erasure = 'on'` in its own
  transaction, may rewrite the free-text columns (note, reason, payload) to remove personal
  data; even then the event's identity, kind, statuses, moment, actor and handoff cannot change
  and no row can be deleted;
- the actor of an account being deleted becomes NULL (the foreign key's SET NULL), nothing else.
TRUNCATE (how test databases are flushed) fires no row trigger and keeps working.

SQLite: the same rule for UPDATE, with the erasure switched on by a row in
handoff_audit_unlock that the erasure inserts and deletes inside its transaction (SQLite has no
transaction-local settings, and one writer at a time). No DELETE trigger: Django flushes SQLite
test databases with DELETE, which such a trigger would refuse; PostgreSQL enforces it.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION handoff_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id
       AND NEW.handoff_id = OLD.handoff_id
       AND NEW.kind = OLD.kind
       AND NEW.from_status = OLD.from_status
       AND NEW.to_status = OLD.to_status
       AND NEW.at = OLD.at THEN
        -- The account of the actor is being deleted: forget who, keep what.
        IF NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
           AND NEW.note = OLD.note AND NEW.reason = OLD.reason
           AND NEW.payload::text = OLD.payload::text THEN
            RETURN NEW;
        END IF;
        -- Erasure of a person's data: free text may be scrubbed, nothing else.
        IF current_setting('app.erasure', true) = 'on'
           AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'handoff events are append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only the erasure service may scrub personal data from events.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER handoff_event_append_only
    BEFORE UPDATE OR DELETE ON handoff_handoffevent
    FOR EACH ROW EXECUTE FUNCTION handoff_event_append_only();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS handoff_event_append_only ON handoff_handoffevent;
DROP FUNCTION IF EXISTS handoff_event_append_only();
"""

SQLITE_FORWARD = [
    "CREATE TABLE IF NOT EXISTS handoff_audit_unlock (id INTEGER PRIMARY KEY)",
    """
    CREATE TRIGGER handoff_event_append_only
    BEFORE UPDATE ON handoff_handoffevent
    WHEN NOT (
        NEW.id = OLD.id
        AND NEW.handoff_id = OLD.handoff_id
        AND NEW.kind = OLD.kind
        AND NEW.from_status = OLD.from_status
        AND NEW.to_status = OLD.to_status
        AND NEW."at" = OLD."at"
        AND (
            (NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
             AND NEW.note = OLD.note AND NEW.reason = OLD.reason AND NEW.payload = OLD.payload)
            OR (EXISTS (SELECT 1 FROM handoff_audit_unlock)
                AND NEW.actor_id IS OLD.actor_id)
        )
    )
    BEGIN
        SELECT RAISE(ABORT, 'handoff events are append-only: UPDATE refused');
    END
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS handoff_event_append_only",
    "DROP TABLE IF EXISTS handoff_audit_unlock",
]


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
    dependencies = [("handoff", "0005_accept_business_minutes_first_touch_risk_index")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
