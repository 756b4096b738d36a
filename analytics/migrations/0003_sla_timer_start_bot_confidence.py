"""Two more indexes for the reports, on other apps' tables (see 0002 for why here).

- sla_slatimer (started_at): SLA compliance counts the timers started in the period;
  the SLA app's own indexes serve its sweep (open timers by threshold), not this.
- The bot-answer index also carries the confidence, so the confidence histogram of
  a period is read from the index alone on PostgreSQL (an index-only scan).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_report_indexes"),
        ("sla", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS analytics_slatimer_started_idx ON sla_slatimer (started_at)",
            reverse_sql="DROP INDEX IF EXISTS analytics_slatimer_started_idx",
        ),
        migrations.RunSQL(
            sql=[
                "DROP INDEX IF EXISTS analytics_msg_bot_time_idx",
                "CREATE INDEX IF NOT EXISTS analytics_msg_bot_time_conf_idx"
                " ON conversations_message (created_at, confidence) WHERE sender = 'bot'",
            ],
            reverse_sql=[
                "DROP INDEX IF EXISTS analytics_msg_bot_time_conf_idx",
                "CREATE INDEX IF NOT EXISTS analytics_msg_bot_time_idx"
                " ON conversations_message (created_at) WHERE sender = 'bot'",
            ],
        ),
    ]
