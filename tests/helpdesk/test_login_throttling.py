"""Agents' sign-in after repeated wrong passwords (django-axes): the username is
locked from that address, even with the right password, with a clear message;
other usernames from that address and the same username from elsewhere still
sign in; admins see the attempts and the lockout."""

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # tests/factories.py


def _sign_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def _fail_five_times(client: Client, username: str) -> None:
    for _ in range(4):
        response = _sign_in(client, username, "wrong")
        assert response.status_code == 200  # the form again, with its error
        assert "correct username and password" in response.content.decode()
    # The fifth failure already answers with the lockout.
    assert _sign_in(client, username, "wrong").status_code == 429


def test_five_wrong_passwords_lock_the_username_even_with_the_right_one(agent):
    client = Client(REMOTE_ADDR="10.9.0.1")
    _fail_five_times(client, agent.username)
    response = _sign_in(client, agent.username, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page and agent.username in page and "0:15:00" in page
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_its_cool_off(agent):
    client = Client(REMOTE_ADDR="10.9.0.2")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _fail_five_times(client, agent.username)
        assert _sign_in(client, agent.username, PASSWORD).status_code == 429
        clock.shift(15 * 60 + 1)
        response = _sign_in(client, agent.username, PASSWORD)
    assert response.status_code == 302 and response.url == reverse("inbox")


def test_another_username_from_that_address_and_that_username_from_elsewhere_still_sign_in(agent, other_agent):
    locked = Client(REMOTE_ADDR="10.9.0.3")
    _fail_five_times(locked, agent.username)
    assert _sign_in(Client(REMOTE_ADDR="10.9.0.3"), other_agent.username, PASSWORD).status_code == 302
    assert _sign_in(Client(REMOTE_ADDR="10.9.0.4"), agent.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_forgets_earlier_failures(agent):
    client = Client(REMOTE_ADDR="10.9.0.5")
    for _ in range(4):
        _sign_in(client, agent.username, "wrong")
    assert _sign_in(client, agent.username, PASSWORD).status_code == 302
    for _ in range(4):
        _sign_in(Client(REMOTE_ADDR="10.9.0.5"), agent.username, "wrong")
    assert _sign_in(Client(REMOTE_ADDR="10.9.0.5"), agent.username, PASSWORD).status_code == 302


def test_admins_see_the_attempts_and_the_lockout(agent, admin_user):
    _fail_five_times(Client(REMOTE_ADDR="10.9.0.6"), agent.username)
    attempt = AccessAttempt.objects.get(username=agent.username)
    assert (attempt.ip_address, attempt.failures_since_start) == ("10.9.0.6", 5)
    assert AccessFailureLog.objects.filter(username=agent.username, locked_out=True).exists()
    admin = Client()
    admin.force_login(admin_user)
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and agent.username in listing.content.decode()
    failures = admin.get(reverse("admin:axes_accessfailurelog_changelist"))
    assert failures.status_code == 200 and "10.9.0.6" in failures.content.decode()
    # Unlocking: an admin deletes the attempt, and the agent signs in.
    attempt.delete()
    assert _sign_in(Client(REMOTE_ADDR="10.9.0.6"), agent.username, PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(agent):
    client = Client(REMOTE_ADDR="10.9.0.7")
    for _ in range(5):
        client.post(reverse("admin:login"), {"username": agent.username, "password": "wrong"})
    response = client.post(reverse("admin:login"), {"username": agent.username, "password": PASSWORD})
    assert response.status_code == 429
