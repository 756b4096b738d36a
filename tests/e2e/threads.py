"""Writes an e2e test makes while pages watch: outside Playwright's thread, whose
running event loop the on-commit broadcasts cannot bridge from."""

import threading

from django.db import connection


def in_a_thread(work):
    """Run ``work()`` in a thread of its own and return what it returned; what it
    raised fails the test."""
    errors, results = [], []

    def run():
        try:
            results.append(work())
        except Exception as e:  # re-raised in the test's thread
            errors.append(e)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    return results[0]
