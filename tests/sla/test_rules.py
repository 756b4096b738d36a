"""Priority rules at handoff: ordered, first match wins, each condition, fire counts."""

import json

import pytest

from conversations import services as conversation_services
from conversations.identity import embed_traits_hash, embed_user_hash
from conversations.models import Conversation, Customer
from knowledge.models import Entry
from sla.models import PriorityRule, SLATimer
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory
from tests.sessions import session_open
from tests.sla.conftest import handoff

pytestmark = pytest.mark.usefixtures("policy")


def _rule(name, priority, position=100, **conditions):
    return PriorityRule.objects.create(name=name, priority=priority, position=position, **conditions)


def test_a_vip_segment_rule_makes_the_conversation_urgent_and_the_timeline_says_which_rule():
    rule = _rule("VIPs first", 1, segment="vip")
    conversation = handoff(customer=CustomerFactory(segment="VIP"))
    assert conversation.priority == 1
    event = conversation.events.get(kind="priority.changed")
    assert (event.actor, event.data) == (None, {"from": 3, "to": 1, "rule": "VIPs first"})
    assert "by rule “VIPs first”" in event.text
    rule.refresh_from_db()
    assert rule.fire_count == 1 and rule.last_fired_at is not None
    # The SLA runs against the priority the rule set.
    assert SLATimer.objects.get(conversation=conversation, kind="first_response").target_seconds == 300


def test_rules_run_in_order_and_the_first_match_wins():
    later = _rule("Everyone low", 4, position=20)
    first = _rule("Customer asked", 2, position=10, handoff_reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    assert handoff().priority == 2
    first.refresh_from_db(), later.refresh_from_db()
    assert (first.fire_count, later.fire_count) == (1, 0)


def test_a_non_matching_rule_leaves_the_default_priority():
    rule = _rule("VIPs first", 1, segment="vip")
    conversation = handoff(customer=CustomerFactory(segment="standard"))
    assert conversation.priority == 3
    assert not conversation.events.filter(kind="priority.changed").exists()
    rule.refresh_from_db()
    assert rule.fire_count == 0


def test_inactive_rules_are_skipped():
    _rule("Off", 1, is_active=False)
    assert handoff().priority == 3


def test_customer_attributes_from_the_embedding_site():
    _rule("Enterprise plan", 2, attribute_key="plan", attribute_value="enterprise")
    _rule("Any trial", 4, attribute_key="trial")
    assert handoff(customer=CustomerFactory(attributes={"plan": "Enterprise"})).priority == 2
    assert handoff(customer=CustomerFactory(attributes={"trial": True})).priority == 4
    assert handoff(customer=CustomerFactory(attributes={"plan": "free"})).priority == 3


def test_keywords_in_what_the_customer_wrote():
    _rule("Outage", 1, keywords="outage, down, cannot log in")
    conversation = ConversationFactory(last_seq=1)
    MessageFactory(conversation=conversation, seq=1, body="Your whole site is DOWN for us")
    conversation_services.conversation_handoff(conversation=conversation, reason="customer_request")
    conversation.refresh_from_db()
    assert conversation.priority == 1
    calm = ConversationFactory(last_seq=1)
    MessageFactory(conversation=calm, seq=1, body="How do I change my avatar?")
    conversation_services.conversation_handoff(conversation=calm, reason="customer_request")
    calm.refresh_from_db()
    assert calm.priority == 3


def test_the_category_of_the_bots_best_guess():
    Entry.objects.create(external_id="refund-policy", title="Refunds", body="…", category="Billing")
    _rule("Billing", 2, kb_category="billing")
    conversation = ConversationFactory()
    conversation_services.conversation_handoff(
        conversation=conversation,
        reason="low_confidence",
        confidence=0.2,
        sources=[{"id": "refund-policy", "title": "Refunds", "score": 0.4}],
    )
    conversation.refresh_from_db()
    assert conversation.priority == 2


def _embed(traits: str, traits_hash: str):
    identity = {
        "user_id": "site-7",
        "user_hash": embed_user_hash("site-7"),
        "traits": traits,
        "traits_hash": traits_hash,
    }
    assert session_open(identity=identity).status_code == 200
    return Customer.objects.get(external_id="site-7")


def test_a_segment_the_embedding_site_signed_makes_its_vip_urgent(settings):
    settings.BATON_EMBED_SECRET = "s3cret"
    _rule("VIPs first", 1, segment="vip")
    traits = json.dumps({"segment": "vip", "language": "de", "plan": "enterprise"})
    customer = _embed(traits, embed_traits_hash(external_id="site-7", traits=traits))
    assert (customer.segment, customer.language, customer.attributes) == ("vip", "de", {"plan": "enterprise"})
    assert handoff(customer=customer).priority == 1


@pytest.mark.parametrize("forged", ["", "0" * 64, "signed-for-another-user", "the-user-id-hash-of-the-traits"])
def test_unsigned_or_forged_traits_are_ignored(settings, forged):
    settings.BATON_EMBED_SECRET = "s3cret"
    traits = json.dumps({"segment": "vip"})
    hash_ = {
        # Another user's valid signature of the same traits, replayed on this one.
        "signed-for-another-user": embed_traits_hash(external_id="site-8", traits=traits),
        # The traits text signed as if it were a user id (the old scheme shared one key).
        "the-user-id-hash-of-the-traits": embed_user_hash(traits),
    }.get(forged, forged)
    customer = _embed(traits, hash_)
    assert (customer.segment, customer.attributes) == ("", {})
