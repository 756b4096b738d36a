"""The embedded mode's secret key: random, made once per installation, kept in a
file outside the repository that only its owner can read (mode 0600).

Production sets ``SECRET_KEY`` (settings refuse to start without it); this is
for ``make run`` on a laptop, where a key written in the code let anyone who
reached the server forge customers' tokens.
"""

import hashlib
import os
import secrets
from pathlib import Path


def default_secret_key_path(base_dir: Path) -> Path:
    """Under the user's state directory, one file per checkout (two checkouts on
    one machine are two installations)."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    installation = hashlib.sha256(str(base_dir).encode()).hexdigest()[:12]
    return state / "baton" / f"secret-key-{installation}"


def secret_key_for_installation(path: Path) -> str:
    """The key in ``path``, made there first if there is none. Processes starting
    together (``make run``'s server and cluster) agree: the file is created with
    O_EXCL, so one of them writes it and the others read it."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip() or _refuse(path)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def _refuse(path: Path) -> str:
    raise RuntimeError(f"{path} is empty: remove it, and a new key is made")
