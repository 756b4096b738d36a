from django.db import migrations

INDEX = "knowledge_chunk_embedding_hnsw"


def create_index(apps, schema_editor):
    # HNSW over cosine distance, PostgreSQL only: SQLite searches exactly in numpy.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON knowledge_chunk USING hnsw (embedding vector_cosine_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
