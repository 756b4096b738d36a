import pytest
import time_machine

from analytics import services
from tests.analytics.scenario import TZ, at, build_week
from tests.factories import UserFactory


@pytest.fixture
def week(agent, other_agent, admin_user):
    """The known week (scenario.py), seen from Tuesday 10 March 12:00 UTC by an admin in Berlin."""
    carol = UserFactory(username="carol", first_name="Carol")
    services.preference_set(user=admin_user, time_zone=TZ)
    conversations = build_week(alice=agent, bob=other_agent, carol=carol)
    with time_machine.travel(at(10, 12), tick=False):
        yield conversations


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
