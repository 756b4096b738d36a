"""Query-count pin on the SLA sweep: timers due together are moved together
(tests/pins.py says how they count)."""

from datetime import timedelta

import pytest
import time_machine

from sla import services
from sla.models import Breach, SLATimer
from tests.pins import pin
from tests.sla.conftest import T0, handoff

pytestmark = pytest.mark.usefixtures("policy", "config_kept")


@pytest.mark.parametrize("due", [2, 5])
def test_a_sweep_breaches_the_due_timers_in_the_same_statements_however_many(
    due, admin_user, django_assert_num_queries
):
    conversations = [handoff(priority=1) for _ in range(due)]
    # One probe for due timers (1). A batch in a savepoint (2): the due timers
    # claimed with their conversations, one UPDATE breaching them, one INSERT of the
    # breaches and their read-back, the admins, one INSERT of the notifications and
    # one of the events, the notifications read back and the unread counts, the
    # at-risk claim (10). The next batch finds nothing: savepoint, two claims (4).
    late = T0 + timedelta(minutes=6)  # P1's first response (5 min) is late
    with time_machine.travel(late, tick=False), django_assert_num_queries(pin(sqlite=17, postgresql=17)):
        result = services.sla_sweep(now=late)
    assert result.breached == due
    assert Breach.objects.filter(timer__conversation__in=conversations).count() == due
    assert SLATimer.objects.filter(conversation__in=conversations, state=SLATimer.State.BREACHED).count() == due
