"""The reports: every figure is a database aggregate over the conversations, routing
and SLA tables; Python only arranges the (few) result rows.

Which rows a figure counts (periods are days in the admin's time zone; the table is
in docs/analytics.md):
- Bot: conversations *started* in the period; confidence: the bot's answers and
  handoffs that *happened* in the period.
- Queue and response: conversations *handed off* in the period. Time pending runs from
  handoff to acceptance (or to resolution if resolved from the queue); first response
  from handoff to the first agent reply; resolution from handoff to resolution.
- SLA: timers *started* in the period; breaches whose deadline is in it.
- Agents: conversations *accepted* in the period, times from acceptance.
"""

from analytics.selectors.agents import AGENT_TIMES, agents_report
from analytics.selectors.bot import CONFIDENCE_BINS, bot_report
from analytics.selectors.common import PRIORITIES, RESPONSE_TIMES, TOP, Status, duration
from analytics.selectors.export import conversation_rows
from analytics.selectors.now import now_panel
from analytics.selectors.queue import queue_now, queue_report
from analytics.selectors.sla import at_risk_rows, breach_rows, sla_report

__all__ = [
    "AGENT_TIMES",
    "CONFIDENCE_BINS",
    "PRIORITIES",
    "RESPONSE_TIMES",
    "TOP",
    "Status",
    "agents_report",
    "at_risk_rows",
    "bot_report",
    "breach_rows",
    "conversation_rows",
    "duration",
    "now_panel",
    "queue_now",
    "queue_report",
    "sla_report",
]
