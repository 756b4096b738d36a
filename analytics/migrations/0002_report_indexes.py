"""Indexes the reports need on the conversations app's tables.

They live here, not in conversations/migrations, because only analytics reads by
these columns (and each app creates migrations for its own tables only). Every
report selects a period by one timestamp: conversations started (created_at),
handed off (handed_off_at) or accepted (assigned_at) within it, and the bot's
answers given within it; without these, a 30-day report over a large history
reads the whole table. Partial where the column is mostly NULL or the rows are
mostly someone else's (only bot messages carry a confidence). Plain SQL that
SQLite and PostgreSQL both accept.
"""

from django.db import migrations

INDEXES = {
    "analytics_conv_created_idx": "conversations_conversation (created_at)",
    "analytics_conv_handed_off_idx": "conversations_conversation (handed_off_at) WHERE handed_off_at IS NOT NULL",
    "analytics_conv_assigned_idx": "conversations_conversation (assigned_at) WHERE assigned_at IS NOT NULL",
    "analytics_msg_bot_time_idx": "conversations_message (created_at) WHERE sender = 'bot'",
}


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("conversations", "0003_customer_segment_timeline"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {definition}",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
