"""Query-count pins: the number of statements a hot path makes, per database.

The counts are what the code makes today (measured), in a test's transaction, so
each ``transaction.atomic`` a path opens counts a SAVEPOINT and its RELEASE (in
production the outermost one is BEGIN/COMMIT, which Django does not count).
An edit that undoes the batching, or adds a statement, fails the pin: if the
change is meant, measure again and say in the comment what the statements are.
"""

from django.db import connection


def pin(*, sqlite: int, postgresql: int) -> int:
    """The pinned count for the database the tests run on."""
    return {"sqlite": sqlite, "postgresql": postgresql}[connection.vendor]
