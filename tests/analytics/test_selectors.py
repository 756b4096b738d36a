from datetime import timedelta

import pytest

from analytics.selectors import now_panel
from sla.models import SLATimer
from tests.analytics.scenario import at, standard_policy
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def _timer(*, state, at_risk_at, kind=SLATimer.Kind.FIRST_RESPONSE, conversation=None):
    start = at(3, 9)
    return SLATimer.objects.create(
        conversation=conversation or ConversationFactory(pending=True),
        kind=kind,
        policy=standard_policy(),
        priority=3,
        target_seconds=3600,
        started_at=start,
        at_risk_at=at_risk_at,
        due_at=start + timedelta(hours=1),
        state=state,
        breached_at=start + timedelta(hours=1) if state == SLATimer.State.BREACHED else None,
    )


def test_at_risk_now_counts_conversations_past_the_warning_whether_or_not_swept_yet():
    now = at(3, 9, 50)
    _timer(state=SLATimer.State.AT_RISK, at_risk_at=at(3, 9, 48))
    _timer(state=SLATimer.State.RUNNING, at_risk_at=at(3, 9, 48))  # the sweep has not come by yet
    _timer(state=SLATimer.State.RUNNING, at_risk_at=at(3, 9, 55))  # not yet
    _timer(state=SLATimer.State.MET, at_risk_at=at(3, 9, 48))
    _timer(state=SLATimer.State.BREACHED, at_risk_at=at(3, 9, 48))
    # Two timers of one conversation count once.
    both = _timer(state=SLATimer.State.AT_RISK, at_risk_at=at(3, 9, 48))
    _timer(
        state=SLATimer.State.AT_RISK,
        at_risk_at=at(3, 9, 48),
        kind=SLATimer.Kind.RESOLUTION,
        conversation=both.conversation,
    )
    assert now_panel(now=now)["at_risk"] == 3
