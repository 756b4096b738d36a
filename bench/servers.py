"""Baton's real processes, started for benchmarks and fault tests: uvicorn, the
django-q2 cluster and a private ``redis-server`` (never the machine's shared one,
which other work uses: a test may stop this one).

Each process gets the environment it is given plus the project's directory as its
working directory; its output goes to a log file beside the others, so a failing
run can be read afterwards.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def report(figures: dict, *, only_json: bool) -> None:
    """The benchmark's figures with the machine's load beside them: one per line
    on stderr unless ``only_json``, and the last line of stdout one JSON object."""
    figures = {**figures, "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
    if not only_json:
        for key, value in figures.items():
            print(f"{key}: {value}", file=sys.stderr)
    print(json.dumps(figures))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    """One started process (and the processes it starts: uvicorn's workers,
    qcluster's sentinel and workers)."""

    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL (to the whole tree) after ``timeout``; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in self.tree():
            _kill(pid)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL to the process and everything it started."""
        for pid in [*self.tree(), self.pid]:
            _kill(pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """The processes ``pid`` started itself."""
    return _children_map().get(pid, [])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """The descendants of ``pid`` (not ``pid`` itself), from /proc."""
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def usage(pids: list[int]) -> tuple[float, float]:
    """(resident memory in MB, CPU seconds used so far) summed over these processes."""
    rss_pages, ticks = 0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss_pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, ticks / os.sysconf("SC_CLK_TCK")


class Logs:
    """A folder for the processes' output."""

    def __init__(self, path: Path | None = None):
        self.path = path or Path(tempfile.mkdtemp(prefix="baton-procs-"))
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / f"{name}.log"


def _start(name: str, argv: list[str], *, env: dict, logs: Logs, port: int | None = None) -> Proc:
    log = logs.file(name)
    out = log.open("ab")
    popen = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    out.close()
    return Proc(name=name, popen=popen, log=log, port=port)


def server_env(*, database_url: str, redis_url: str, prefix: str, **extra: str) -> dict:
    """The environment of Baton's processes for a run (production-like: the cluster
    runs the tasks, no debug pages)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "DB_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="helpdesk.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        BATON_CHANNELS_PREFIX=prefix,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # Every simulated customer comes from 127.0.0.1: the per-address rate limits
        # would measure themselves (tests/e2e/test_ws_abuse.py tests them; pass
        # BATON_RATELIMIT_ENABLED="1" in ``extra`` to run with them).
        BATON_RATELIMIT_ENABLED="0",
    )
    env.update(extra)
    return env


def asgi(*, env: dict, logs: Logs, name: str = "asgi", port: int | None = None, workers: int = 1) -> Proc:
    port = port or free_port()
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        "helpdesk.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return _start(name, argv, env=env, logs=logs, port=port)


def qcluster(*, env: dict, logs: Logs, name: str = "qcluster") -> Proc:
    return _start(name, [PYTHON, "manage.py", "qcluster"], env=env, logs=logs)


def redis_server(*, logs: Logs, name: str = "redis", port: int | None = None) -> Proc:
    """A private Redis that keeps nothing on disk, on a port of its own."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = port or free_port()
    proc = _start(
        name,
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(logs.path),
        ],
        env=dict(os.environ),
        logs=logs,
        port=port,
    )
    wait_tcp(port, proc=proc)
    return proc


def wait_tcp(port: int, *, proc: Proc | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited while starting:\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s" + (f":\n{proc.tail()}" if proc else ""))


def wait_http(url: str, *, proc: Proc | None = None, timeout: float = 60.0) -> None:
    """Until ``url`` answers (any status below 500)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited while starting:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s" + (f":\n{proc.tail()}" if proc else ""))
