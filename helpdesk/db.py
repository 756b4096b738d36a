"""Small database helpers the apps share."""

from collections.abc import Callable

from django.db import transaction


def on_commit_once(func: Callable[[], None], *, robust: bool = False) -> None:
    """``transaction.on_commit(func)``, unless ``func`` already waits for this commit
    from the same savepoint level: the changes of one service (and of the services
    it calls without savepoints) that each ask for the same after-commit work
    (route the queue, push the queue's places) get it done once.

    Reads Django's list of the transaction's callbacks, whose entries carry the
    savepoints they were registered under. Matching only the same level keeps a
    rolled-back savepoint from taking the work away, and keeps tests that capture
    one block's callbacks seeing those the block asked for.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        level = set(connection.savepoint_ids)
        if any(f is func and sids == level for sids, f, _robust in connection.run_on_commit):
            return
    transaction.on_commit(func, robust=robust)
