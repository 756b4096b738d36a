"""The placeholders a canned response may hold, and the one function that fills them.

- ``{customer_name}``: the customer's name, or "there" when they gave none
  ("Hi {customer_name}" reads "Hi there").
- ``{agent_name}``: the replying agent's full name, else their short name.
- ``{agent_first_name}``: the agent's first name, else their username.

Anything else in braces is left as written.
"""

import re

from django.contrib.auth.models import AbstractBaseUser

from conversations.models import Customer, display_name

PLACEHOLDERS = ("customer_name", "agent_name", "agent_first_name")
NO_CUSTOMER_NAME = "there"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholders_fill(body: str, *, customer: Customer, agent: AbstractBaseUser) -> str:
    """``body`` with its placeholders replaced in one pass over the body alone: a value
    (a customer calling themselves "{agent_name}") is inserted as it is, never read
    for placeholders again. The result is plain text; pages escape it."""
    values = {
        "customer_name": customer.name.strip() or NO_CUSTOMER_NAME,
        "agent_name": agent.get_full_name().strip() or display_name(agent),
        "agent_first_name": display_name(agent),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)
