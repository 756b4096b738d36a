"""Loaded with `-p` (see pyproject.toml), before pytest-django sets Django up."""

import atexit
import os
import shutil
import tempfile

# Tests run django-q2 tasks (the bot's turn) inline, right after the commit that
# schedules them; the cluster itself is exercised by `make run` and the benchmarks.
os.environ.setdefault("BATON_Q_SYNC", "1")
# The timers (core/timers.py) run only where a test turns them on (browser tests).
os.environ.setdefault("BATON_TIMERS_TICK_MS", "0")
# Concurrent test runs sharing one Redis must not hear each other's events (set,
# not defaulted: an xdist worker inherits its controller's environment).
os.environ["BATON_CHANNELS_PREFIX"] = f"baton-test-{os.getpid()}"
# A key of the test run's own: tests never write the installation's key file.
os.environ.setdefault("SECRET_KEY", "baton-tests-only-" + "k" * 40)
# Rate limits are off except in the tests of the limits themselves (the
# `rate_limits` fixture), which count under a prefix of this run's own.
os.environ.setdefault("BATON_RATELIMIT_ENABLED", "0")
os.environ["BATON_RATELIMIT_PREFIX"] = f"baton-test-rl-{os.getpid()}"
# Files the tests upload never land in the repository: a folder of this run's
# own, removed at exit (tests that look at the files use the `media` fixture).
_media = tempfile.mkdtemp(prefix="baton-test-media-")
os.environ["BATON_MEDIA_ROOT"] = _media
atexit.register(shutil.rmtree, _media, ignore_errors=True)
