"""Production settings, checked the way an operator would: in a fresh process."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "SECRET_KEY", "ALLOWED_HOSTS"))}
    # Without SECRET_KEY the process makes the installation's key: in a folder of
    # the test's, never the user's own.
    clean["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="baton-state-")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production_mode():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        BATON_PRODUCTION="1",
        SECRET_KEY="a-long-random-production-secret-" + "x7Gq2pLm9Zr4Tb8Wn1Kc5Hd3Fj6Vs0Ye",
        ALLOWED_HOSTS="support.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = _manage("check", BATON_PRODUCTION="1")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_variable_stops_start_up_with_its_name():
    result = _manage("check", BATON_Q_WORKERS="lots")
    assert result.returncode != 0
    assert "BATON_Q_WORKERS='lots' is not an integer" in result.stderr


def test_prepared_statements_are_on_unless_a_pooler_needs_them_off():
    show = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS'))"
    url = "postgres://baton:secret@db.invalid:5432/baton"  # read, never connected to
    on = _manage("shell", "-c", show, DATABASE_URL=url)
    off = _manage("shell", "-c", show, DATABASE_URL=url, DB_PREPARED_STATEMENTS="0")
    assert "'server_side_binding': True, 'prepare_threshold': 2" in on.stdout, on.stderr
    assert "server_side_binding" not in off.stdout, off.stderr


def test_without_a_secret_key_each_installation_gets_a_random_one_of_its_own(tmp_path):
    show = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _manage("shell", "-v", "0", "-c", show, XDG_STATE_HOME=str(tmp_path), HOME=str(tmp_path))
    again = _manage("shell", "-v", "0", "-c", show, XDG_STATE_HOME=str(tmp_path), HOME=str(tmp_path))
    [key_file] = (tmp_path / "baton").iterdir()
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == again.stdout.strip() == key_file.read_text().strip()
    assert len(first.stdout.strip()) >= 50
    assert "baton-embedded-development-key" not in first.stdout
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert ROOT not in key_file.parents  # outside the repository
    elsewhere = _manage("shell", "-v", "0", "-c", show, XDG_STATE_HOME=str(tmp_path / "other"), HOME=str(tmp_path))
    assert elsewhere.stdout.strip() != first.stdout.strip()
