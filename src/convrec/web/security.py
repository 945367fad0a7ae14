"""Passwords and login tokens.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106's
recommended parameters). A login creates a random 256-bit token; the client keeps it (as an
HttpOnly, SameSite=Lax cookie, or as a bearer token for API clients) and the database keeps
only its sha256, so a copy of the table cannot be used to log in.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from convrec.web.models import AuthToken, User

__all__ = [
    "COOKIE_NAME",
    "TOKEN_LIFETIME_S",
    "create_token",
    "hash_password",
    "revoke_token",
    "token_hash",
    "user_for_token",
    "verify_password",
]

COOKIE_NAME = "convrec_session"
TOKEN_LIFETIME_S = 14 * 24 * 3600  # two weeks, then log in again

_hasher = PasswordHasher()
# verifying against this hash when the user does not exist keeps login time the same for
# known and unknown usernames (no user enumeration by timing)
_DUMMY_HASH = _hasher.hash("convrec-dummy-password")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; a new salt every call)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (``None``: compare with a dummy)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User) -> str:
    """Store a new login token for ``user`` and return it (the only time it is seen)."""
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    session.add(
        AuthToken(
            user_id=user.id, token_hash=token_hash(token), created_at=now,
            expires_at=now + TOKEN_LIFETIME_S,
        )
    )
    session.commit()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The user a live token belongs to, or ``None`` (unknown or expired)."""
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(User, AuthToken.expires_at)
        .join(AuthToken, AuthToken.user_id == User.id)
        .where(AuthToken.token_hash == token_hash(token))
    ).first()
    if row is None or row[1] < int(time.time()):
        return None
    return row[0]


def revoke_token(session: Session, token: str) -> None:
    """Delete a token (log out); unknown tokens are ignored."""
    session.execute(delete(AuthToken).where(AuthToken.token_hash == token_hash(token)))
    session.commit()
