import pytest
from django.core.exceptions import ValidationError

from analytics.models import Preference
from analytics.services import preference_set

pytestmark = pytest.mark.django_db


def test_preference_set_creates_then_updates_one_row(agent):
    preference_set(user=agent, time_zone="America/New_York")
    preference_set(user=agent, time_zone=" Asia/Tokyo ")
    assert list(Preference.objects.values_list("user", "time_zone")) == [(agent.pk, "Asia/Tokyo")]


def test_preference_set_refuses_what_is_not_a_time_zone(agent):
    with pytest.raises(ValidationError):
        preference_set(user=agent, time_zone="Mars/Olympus")
    assert not Preference.objects.exists()
