"""Replace 0002's single-column period indexes on conversations with covering ones.

Each report scans one cohort of a period: conversations started (per-day counts,
reasons), handed off (response-time percentiles per priority, confidence at
handoff) or accepted (per agent). With every column those queries read in the
index, PostgreSQL answers them from the index alone (an index-only scan) instead
of visiting ~50,000 table rows for a 30-day period of a busy desk. The price is
a wider index updated when a conversation changes status, a few times in its
life. Plain composite indexes, which SQLite accepts too.
"""

from django.db import migrations

INDEXES = {
    "analytics_conv_created_cover_idx": "conversations_conversation"
    " (created_at, status, handoff_reason, handed_off_at)",
    "analytics_conv_handed_off_cover_idx": "conversations_conversation"
    " (handed_off_at, priority, assigned_at, first_agent_reply_at, resolved_at, handoff_confidence)"
    " WHERE handed_off_at IS NOT NULL",
    "analytics_conv_assigned_cover_idx": "conversations_conversation"
    " (assigned_at, assigned_agent_id, first_agent_reply_at, resolved_at) WHERE assigned_at IS NOT NULL",
}
REPLACED = {
    "analytics_conv_created_idx": "conversations_conversation (created_at)",
    "analytics_conv_handed_off_idx": "conversations_conversation (handed_off_at) WHERE handed_off_at IS NOT NULL",
    "analytics_conv_assigned_idx": "conversations_conversation (assigned_at) WHERE assigned_at IS NOT NULL",
}


class Migration(migrations.Migration):
    dependencies = [("analytics", "0005_handoff_question_backfill")]

    operations = [
        *(
            migrations.RunSQL(
                sql=f"CREATE INDEX IF NOT EXISTS {name} ON {definition}",
                reverse_sql=f"DROP INDEX IF EXISTS {name}",
            )
            for name, definition in INDEXES.items()
        ),
        *(
            migrations.RunSQL(
                sql=f"DROP INDEX IF EXISTS {name}",
                reverse_sql=f"CREATE INDEX IF NOT EXISTS {name} ON {definition}",
            )
            for name, definition in REPLACED.items()
        ),
    ]
