"""The one write path of analytics: an admin's own reporting preferences."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from analytics.models import Preference


@transaction.atomic
def preference_set(*, user: AbstractBaseUser, time_zone: str) -> Preference:
    """Set the time zone reports use for ``user``; ValidationError if it is not a zone."""
    preference = Preference.objects.select_for_update().filter(user=user).first() or Preference(user=user)
    preference.time_zone = time_zone.strip()
    preference.full_clean()
    preference.save()
    return preference
