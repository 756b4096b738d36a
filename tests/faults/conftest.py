"""The fault suite: Baton's real processes (uvicorn, django-q2 clusters, a private
Redis where a test stops it) driven by real websocket clients, each test ending
by comparing what every client holds with the database (docs/realtime.md).

It needs what production has, PostgreSQL and Redis: in embedded mode there is
no second process to kill and no Redis to stop, so these files are not collected
there (the README's test command runs them in the PostgreSQL + Redis run of CI).
"""

import os
import uuid
from types import SimpleNamespace

import pytest
from django.conf import settings

from bench import servers

if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def database_url(transactional_db) -> str:
    """The test database, as the server processes reach it: what the test commits
    they see."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Processes:
    """Everything a test started, stopped when it ends (the servers before the
    database is flushed: this fixture depends on it)."""

    def __init__(self, *, database_url: str, redis_url: str, logs: servers.Logs):
        self.logs = logs
        self.redis_url = redis_url
        self.env = servers.server_env(
            database_url=database_url, redis_url=redis_url, prefix=f"baton-faults-{uuid.uuid4().hex[:8]}"
        )
        self.started: list[servers.Proc] = []

    def asgi(self, name: str = "asgi") -> servers.Proc:
        proc = servers.asgi(env=self.env, logs=self.logs, name=name)
        self.started.append(proc)
        servers.wait_http(f"http://127.0.0.1:{proc.port}/login/", proc=proc)
        return proc

    def qcluster(self, name: str = "qcluster") -> servers.Proc:
        proc = servers.qcluster(env=self.env, logs=self.logs, name=name)
        self.started.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.started):
            proc.stop(timeout=10)

    def logs_tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in self.started)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of the test's own, which it may stop and start (never the shared one)."""
    logs = servers.Logs(tmp_path / "redis")
    proc = servers.redis_server(logs=logs)
    holder = SimpleNamespace(proc=proc, port=proc.port, url=f"redis://127.0.0.1:{proc.port}/0", logs=logs)

    def restart():
        holder.proc = servers.redis_server(logs=logs, port=holder.port)

    holder.restart = restart
    yield holder
    holder.proc.stop(timeout=5)


@pytest.fixture
def processes(database_url, tmp_path, request):
    redis_url = settings.REDIS_URL
    if "private_redis" in request.fixturenames:
        redis_url = request.getfixturevalue("private_redis").url
    procs = Processes(database_url=database_url, redis_url=redis_url, logs=servers.Logs(tmp_path / "procs"))
    yield procs
    procs.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(procs.logs_tail())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
