import pytest

from conversations.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl


@pytest.fixture
def demo_kb(db):
    """The demo help centre, embedded with the real model."""
    return kb_import_jsonl(path=DEMO_KB)
