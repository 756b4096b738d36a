import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import envbool, envint, envlist, envstr


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("On", True), ("0", False), ("false", False)]
)
def test_envbool_parses_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert envbool("X_FLAG", not expected) is expected


def test_envbool_defaults_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("X_FLAG", raising=False)
    assert envbool("X_FLAG", True) is True
    monkeypatch.setenv("X_FLAG", "")
    assert envbool("X_FLAG", True) is True


def test_envbool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        envbool("X_FLAG", False)


def test_envint_checks_type_and_bounds(monkeypatch):
    monkeypatch.setenv("X_NUM", "7")
    assert envint("X_NUM", 1, minimum=1, maximum=10) == 7
    monkeypatch.setenv("X_NUM", "seven")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        envint("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum 1"):
        envint("X_NUM", 1, minimum=1)


def test_envlist_splits_and_trims(monkeypatch):
    monkeypatch.setenv("X_LIST", " a.example , b.example,,")
    assert envlist("X_LIST", []) == ["a.example", "b.example"]


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert envstr("X_SECRET") == "from-a-file"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        envstr("X_SECRET")
