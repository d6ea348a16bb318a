"""Data migrations of the inbox table, for a service's alembic revisions.

An inbox row names the handler that owns it (`event_id, handler`): the retry timer and an
operator's retry run the handler of that name. When a release renames or merges handlers,
the rows of the old names (failed or dead ones above all) must follow, or they can never
be retried. Frozen like `tables.py`: a later change is a new function, not an edit.
"""
from sqlalchemy import text


def rename_inbox_handlers(bind, renames):
    """Rows of each old handler name go to the new one, unless the new handler already has a
    row for that event (it has handled it: the old row stays as history)."""
    for old, new in renames.items():
        bind.execute(text(
            "UPDATE inbox SET handler = :new WHERE handler = :old AND NOT EXISTS ("
            "SELECT 1 FROM inbox AS taken WHERE taken.event_id = inbox.event_id "
            "AND taken.handler = :new)"), {"old": old, "new": new})


def rename_inbox_handlers_by_type(bind, handler, names_by_type):
    """The reverse of a merge: `handler`'s rows go back to the per-type names."""
    for event_type, old in names_by_type.items():
        bind.execute(text(
            "UPDATE inbox SET handler = :old WHERE handler = :handler AND type = :type "
            "AND NOT EXISTS (SELECT 1 FROM inbox AS taken WHERE "
            "taken.event_id = inbox.event_id AND taken.handler = :old)"),
            {"old": old, "handler": handler, "type": event_type})


def retire_inbox_handler(bind, name, why):
    """A handler whose effect is no longer wanted: its failed and dead rows are closed as done
    (nothing will run them again), with `why` kept in last_error for the operator."""
    bind.execute(text(
        "UPDATE inbox SET status = 'done', next_attempt_at = NULL, handled_at = now(), "
        "last_error = :why || E'\\n' || coalesce(last_error, '') "
        "WHERE handler = :name AND status IN ('failed', 'dead')"), {"name": name, "why": why})
