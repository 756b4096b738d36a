import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from conversations.models import Conversation, Customer, Message


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"agent{n}")
    first_name = factory.LazyAttribute(lambda u: u.username.capitalize())
    password = factory.django.Password("pw-for-tests")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    customer = factory.SubFactory(CustomerFactory)

    class Params:
        pending = factory.Trait(
            status=Conversation.Status.PENDING_HANDOFF,
            handoff_reason=Conversation.HandoffReason.LOW_CONFIDENCE,
            handed_off_at=factory.LazyFunction(timezone.now),
        )


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    seq = factory.Sequence(lambda n: n + 1)
    sender = Message.Sender.CUSTOMER
    body = "Hello"
