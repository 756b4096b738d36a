"""Customer identity: a signed token instead of an account.

The token only names a customer id; it is signed with SECRET_KEY so a customer
cannot forge another's. An embedding site may also pass its own user id, which
is trusted only with ``user_hash = HMAC-SHA256(BATON_EMBED_SECRET, external_id)``
(the same scheme as Intercom's identity verification).
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.core import signing

_SALT = "baton.customer"
TOKEN_MAX_AGE = 60 * 60 * 24 * 365


def customer_token_make(*, customer_id: int) -> str:
    return signing.dumps({"c": customer_id}, salt=_SALT, compress=True)


def customer_token_read(token: str | None) -> int | None:
    """The customer id a token names, or None for a missing, forged or expired one."""
    if not token:
        return None
    try:
        data = signing.loads(token, salt=_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    customer_id = data.get("c") if isinstance(data, dict) else None
    return customer_id if isinstance(customer_id, int) else None


def embed_user_hash(external_id: str) -> str:
    return hmac.new(settings.BATON_EMBED_SECRET.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def embed_user_verified(*, external_id: str, user_hash: str) -> bool:
    if not settings.BATON_EMBED_SECRET or not external_id or not user_hash:
        return False
    return hmac.compare_digest(embed_user_hash(external_id), user_hash)


def embed_traits_verified(*, traits: str, traits_hash: str) -> dict | None:
    """The facts the embedding site passed about its user (a JSON object: segment,
    language, anything else), if ``traits_hash = HMAC-SHA256(BATON_EMBED_SECRET,
    traits)`` proves the site wrote them; else None."""
    if not (settings.BATON_EMBED_SECRET and traits and traits_hash):
        return None
    if not hmac.compare_digest(embed_user_hash(traits), traits_hash):
        return None
    try:
        parsed = json.loads(traits)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
