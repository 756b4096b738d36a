import pytest

from canned.placeholders import placeholders_fill
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def _fill(body, *, customer_name="Casey Customer", agent=None):
    agent = agent or UserFactory(username="alice", first_name="Alice", last_name="Archer")
    return placeholders_fill(body, customer=CustomerFactory.build(name=customer_name), agent=agent)


def test_each_placeholder_is_filled():
    assert _fill("Hi {customer_name}, {agent_first_name} here ({agent_name}).") == (
        "Hi Casey Customer, Alice here (Alice Archer)."
    )


def test_a_customer_without_a_name_is_there():
    assert _fill("Hi {customer_name}!", customer_name="  ") == "Hi there!"


def test_an_agent_without_names_is_their_username():
    bare = UserFactory(username="bob", first_name="")
    assert _fill("{agent_name} / {agent_first_name}", agent=bare) == "bob / bob"


def test_unknown_placeholders_and_stray_braces_stay_as_written():
    assert _fill("{order_id} {customer_name {} {{customer_name}}") == "{order_id} {customer_name {} {Casey Customer}"


def test_a_name_holding_placeholders_is_not_expanded_again():
    assert _fill("Hi {customer_name}", customer_name="{agent_name} {customer_name}") == (
        "Hi {agent_name} {customer_name}"
    )


def test_html_in_a_name_stays_text():
    assert _fill("Hi {customer_name}", customer_name="<b>Eve</b> &amp;") == "Hi <b>Eve</b> &amp;"
