"""GIN indexes for the agents' search (conversations/search.py), PostgreSQL only:
SQLite's fallback searches with LIKE and has no such index. Built from the same
expressions the search filters on (``to_tsvector('simple', ...)``), which is what
lets PostgreSQL use them; the expressions are written out here, frozen, and
tests/conversations/test_search.py checks the planner does use them."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

CONFIG = "simple"


def _indexes():
    return [
        ("message", GinIndex(SearchVector("body", config=CONFIG), name="message_body_search_idx")),
        (
            "customer",
            GinIndex(SearchVector("name", "email", "external_id", config=CONFIG), name="customer_search_idx"),
        ),
    ]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in _indexes():
        schema_editor.add_index(apps.get_model("conversations", model), index)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in _indexes():
        schema_editor.remove_index(apps.get_model("conversations", model), index)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0007_internal_notes")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
