"""Customers: made for a visitor, identified by an embedding site, renamed."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from conversations.identity import Identity, Visitor
from conversations.models import Customer

# Characters a display name never needs: control characters (NUL is refused by
# PostgreSQL: a 500 before) and the bidirectional overrides that make a name
# read as something else in the agent's list.
_NAME_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def display_name_clean(name: str) -> str:
    """A name as the agents will see it: printable, without unpaired surrogates, at most 200 characters."""
    return _NAME_DROPPED.sub("", name).strip()[:200]


def customer_create(*, name: str = "", external_id: str = "") -> Customer:
    customer = Customer(name=display_name_clean(name), external_id=external_id[:200])
    customer.full_clean()
    customer.save()
    return customer


def customer_for_visitor(*, visitor: Visitor) -> Customer:
    """The customer a visitor's first message (or handoff request) makes, or the one
    it made before: one row per visitor key however many first messages race
    (the key's unique constraint; ``get_or_create`` retries on its conflict)."""
    if visitor.customer_id is not None:
        return Customer.objects.get(pk=visitor.customer_id)
    customer, _ = Customer.objects.get_or_create(
        visitor_key=visitor.visitor_key, defaults={"name": display_name_clean(visitor.name)}
    )
    return customer


@transaction.atomic
def customer_identify(*, identity: Identity) -> Customer:
    """The customer an embedding site vouches for, made or updated from what it
    proved: the verified name and e-mail replace what the visitor's page said,
    and its traits (when it sent some) replace the earlier ones."""
    customer, _ = Customer.objects.select_for_update().get_or_create(external_id=identity.external_id[:200])
    before = _identity_fields(customer)
    customer.verified = True
    if identity.name:
        customer.name = display_name_clean(identity.name)
    if identity.email:
        customer.email = identity.email.strip()[:254]
    if identity.traits is not None:
        segment, language = identity.traits.get("segment", ""), identity.traits.get("language", "")
        # segment and language go to their fields: priority and routing rules match on them.
        customer.segment = segment[:50] if isinstance(segment, str) else ""
        customer.language = language[:10] if isinstance(language, str) else ""
        customer.attributes = {k: v for k, v in identity.traits.items() if k not in ("segment", "language")}
    try:
        customer.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError:
        customer.email = ""  # a malformed address from the site is dropped, not a refusal
        customer.full_clean(validate_unique=False, validate_constraints=False)
    if _identity_fields(customer) != before:  # every page load verifies: most change nothing
        customer.save(update_fields=["verified", "name", "email", "segment", "language", "attributes"])
    return customer


def _identity_fields(customer: Customer) -> tuple:
    c = customer
    return (c.verified, c.name, c.email, c.segment, c.language, c.attributes)


def customer_rename(*, customer: Customer, name: str) -> Customer:
    """An unverified visitor's name, as their page gives it; never a verified one."""
    name = display_name_clean(name)
    if name and not customer.verified and customer.name != name:
        Customer.objects.filter(pk=customer.pk, verified=False).update(name=name)
        customer.name = name
    return customer
