"""Customer identity: a signed, expiring session token instead of an account.

A visitor's token names a random visitor key (``v``), not a database row: the
customer row is made on the first message, so page views, crawlers and prefetches
write nothing. A token of a customer the server already knows names its id
(``c``); ``x`` marks one whose identity the embedding site verified, which is
valid only with that verification (a later visitor of the same browser, signed
out of the site, must not inherit the conversation). Tokens are signed with
SECRET_KEY, expire after ``BATON_SESSION_DAYS`` without use and are re-issued on
every page load, so an active visitor keeps theirs indefinitely.

An embedding site proves who its signed-in user is in one of two ways:

- a JWT (HS256) signed with its EmbedSite's own secret, with ``sub`` and ``exp``
  required and ``name``, ``email``, ``traits`` optional (``identity_from_jwt``);
- legacy: ``user_hash = HMAC-SHA256(BATON_EMBED_SECRET, user id)`` (Intercom's
  scheme), which never expires; its traits are signed with a key of their own and
  bound to the user id (``embed_traits_hash``), so neither another user's signed
  traits nor the traits text as a user id verify.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.core import signing

_SALT = "baton.customer"
# Tokens of the legacy HMAC scheme's traits: a key derived for them alone.
_TRAITS_KEY_LABEL = b"baton.embed.traits.v2"
JWT_LEEWAY_S = 30


@dataclass(frozen=True)
class Visitor:
    """Whom a token names: a known customer, or a visitor with no row yet."""

    customer_id: int | None = None
    visitor_key: str = ""
    # The customer's identity was verified by the embedding site when the token was made.
    verified: bool = False
    # The name the visitor's page gave (unverified), for the row their first message makes.
    name: str = ""


@dataclass(frozen=True)
class Identity:
    """What an embedding site proved about its signed-in user."""

    external_id: str
    name: str = ""
    email: str = ""
    traits: dict | None = None
    method: str = "jwt"  # or "hmac" (legacy)


def token_max_age() -> int:
    return settings.BATON_SESSION_DAYS * 24 * 60 * 60


def customer_token_make(*, customer_id: int, verified: bool = False) -> str:
    data = {"c": customer_id, "x": 1} if verified else {"c": customer_id}
    return signing.dumps(data, salt=_SALT, compress=True)


def visitor_token_make(*, visitor_key: str = "", name: str = "") -> str:
    """A token for a visitor who has written nothing yet (a fresh key if none)."""
    data = {"v": visitor_key or secrets.token_urlsafe(18)}
    if name:
        data["n"] = name[:200]
    return signing.dumps(data, salt=_SALT, compress=True)


def visitor_token_renew(visitor: Visitor, *, name: str = "") -> str:
    """The same visitor's token with a fresh timestamp: a session in use never expires."""
    if visitor.customer_id is not None:
        return customer_token_make(customer_id=visitor.customer_id, verified=visitor.verified)
    return visitor_token_make(visitor_key=visitor.visitor_key, name=name or visitor.name)


def visitor_read(token: object) -> Visitor | None:
    """Whom a token names, or None for a missing, forged, tampered or expired one."""
    if not token or not isinstance(token, str) or len(token) > 500:
        return None
    try:
        data = signing.loads(token, salt=_SALT, max_age=token_max_age())
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    customer_id, key = data.get("c"), data.get("v")
    if isinstance(customer_id, int) and not isinstance(customer_id, bool) and customer_id > 0:
        return Visitor(customer_id=customer_id, verified=data.get("x") == 1)
    if isinstance(key, str) and 16 <= len(key) <= 64:
        name = data.get("n")
        return Visitor(visitor_key=key, name=name if isinstance(name, str) else "")
    return None


def session_key(visitor: Visitor) -> str:
    """A stable, opaque name of the session for the browser's own bookkeeping (its
    unsent messages), the same across the re-issued tokens of one visitor."""
    subject = f"c{visitor.customer_id}" if visitor.customer_id is not None else f"v{visitor.visitor_key}"
    return signing.salted_hmac("baton.session-key", subject).hexdigest()[:20]


# --- The websocket carries the token in a subprotocol, never in its (logged) URL.
SUBPROTOCOL = "baton"
_TOKEN_PROTOCOL_PREFIX = "baton.token."


def token_from_subprotocols(protocols: list[str]) -> str | None:
    """The token a socket offered as ``baton.token.<hex of the token>`` (hex, because
    a subprotocol may hold only a few ASCII characters and signed tokens have ':')."""
    for protocol in protocols or ():
        if protocol.startswith(_TOKEN_PROTOCOL_PREFIX):
            try:
                return bytes.fromhex(protocol[len(_TOKEN_PROTOCOL_PREFIX) :]).decode()
            except ValueError:
                return None
    return None


def token_subprotocol(token: str) -> str:
    return _TOKEN_PROTOCOL_PREFIX + token.encode().hex()


# --- Verification of the embedding site's user --------------------------------
class IdentityRefused(Exception):
    """The site's proof of its user did not verify; the message says why, for the page."""


def identity_from_jwt(*, token: object, secret: str) -> Identity:
    """The identity a site's JWT proves: HS256 with the site's secret, ``sub`` and
    ``exp`` required (PyJWT checks the signature, the algorithm and the expiry)."""
    if not isinstance(token, str) or not token or len(token) > 8000:
        raise IdentityRefused("The sign-in token is missing.")
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]}, leeway=JWT_LEEWAY_S
        )
    except jwt.ExpiredSignatureError:
        raise IdentityRefused("Your sign-in has expired: reload the page.") from None
    except jwt.InvalidTokenError:
        raise IdentityRefused("Your sign-in could not be verified.") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 200:
        raise IdentityRefused("Your sign-in could not be verified.")
    traits = claims.get("traits")
    return Identity(
        external_id=sub.strip(),
        name=claims["name"] if isinstance(claims.get("name"), str) else "",
        email=claims["email"] if isinstance(claims.get("email"), str) else "",
        traits=traits if isinstance(traits, dict) else None,
    )


def embed_user_hash(external_id: str) -> str:
    return hmac.new(settings.BATON_EMBED_SECRET.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def embed_traits_hash(*, external_id: str, traits: str) -> str:
    """Legacy traits signature: bound to the user id, under a key of its own."""
    key = hmac.new(settings.BATON_EMBED_SECRET.encode(), _TRAITS_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{external_id}\n{traits}".encode(), hashlib.sha256).hexdigest()


def identity_from_hmac(
    *, external_id: object, user_hash: object, name: object = "", traits: object = "", traits_hash: object = ""
) -> Identity:
    """The legacy form: a user id and its HMAC; traits only with their own valid hash."""
    if not (settings.BATON_EMBED_SECRET and isinstance(external_id, str) and isinstance(user_hash, str)):
        raise IdentityRefused("Your sign-in could not be verified.")
    external_id = external_id.strip()
    if not external_id or len(external_id) > 200 or not hmac.compare_digest(embed_user_hash(external_id), user_hash):
        raise IdentityRefused("Your sign-in could not be verified.")
    parsed = None
    if (
        isinstance(traits, str)
        and traits
        and isinstance(traits_hash, str)
        and hmac.compare_digest(embed_traits_hash(external_id=external_id, traits=traits), traits_hash)
    ):
        try:
            parsed = json.loads(traits)
        except ValueError:
            parsed = None
    return Identity(
        external_id=external_id,
        name=name if isinstance(name, str) else "",
        traits=parsed if isinstance(parsed, dict) else None,
        method="hmac",
    )
