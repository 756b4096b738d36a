"""The sequence routing requests are counted on (PostgreSQL only; see
routing.services.routing_request). SQLite has one writer at a time and needs none."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS routing_request_seq")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS routing_request_seq")


class Migration(migrations.Migration):
    dependencies = [("routing", "0002_tick_schedule")]

    operations = [migrations.RunPython(create, drop)]
