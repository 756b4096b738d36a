"""Loaded with `-p` (see pyproject.toml), before pytest-django sets Django up."""

import os

# Tests run django-q2 tasks (the bot's turn) inline, right after the commit that
# schedules them; the cluster itself is exercised by `make run` and the benchmarks.
os.environ.setdefault("BATON_Q_SYNC", "1")
# Routing's per-process timer runs only where a test turns it on (the browser tests).
os.environ.setdefault("BATON_ROUTING_TICK_MS", "0")
# Concurrent test runs sharing one Redis must not hear each other's events.
os.environ.setdefault("BATON_CHANNELS_PREFIX", f"baton-test-{os.getpid()}")
# The SLA ticker starts with an agent's inbox socket; tests that want it turn it on.
os.environ.setdefault("BATON_SLA_TICKER", "0")
