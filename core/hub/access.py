"""Who may do what in the hub: users and API tokens from the settings, three roles, masking.

Passwords are stored as Argon2id hashes (`orderscope users hash-password`), API tokens as
SHA-256 digests (a token is 32 random bytes: a slow hash adds nothing, a fast one keeps every
request cheap). Comparison is constant-time. A name and password that verified are remembered
for a few minutes (as a keyed digest, never the password), so a client sending HTTP Basic on
every request pays the deliberately slow hash once, not per request; a wrong password always
pays it. With no users and no tokens configured the hub is
open, but then it binds to 127.0.0.1 only (see orderscope.hub.server).

The roles and what each may do are domain rules: orderscope.domain.access.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

from orderscope.config import HubToken, HubUser, Settings
from orderscope.domain.access import OPEN, Principal

VERIFIED_SECONDS = 300.0  # how long a verified name and password skip the slow hash
VERIFIED_MAX = 1024


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` for the `users` setting."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def new_token() -> tuple[str, str]:
    """A fresh API token and the digest to put in the `tokens` setting."""
    token = "osk_" + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


class Access:
    """Authenticates requests against the configured users and tokens."""

    def __init__(self, users: Iterable[HubUser] = (), tokens: Iterable[HubToken] = ()) -> None:
        self.users = {u.name: u for u in users}
        self.tokens = list(tokens)
        self.local: list[str] = []  # digests of the owner file's token (not configuration)
        self._verified: dict[bytes, tuple[Principal, float]] = {}  # keyed digest -> (who, until)
        self._key = secrets.token_bytes(32)

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(settings.users, settings.tokens)

    @property
    def open(self) -> bool:
        """No users and no tokens: everyone on the (local) interface is a manager."""
        return not self.users and not self.tokens

    def password(self, name: str, password: str) -> Principal | None:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        key = hmac.new(self._key, f"{name}\0{password}".encode(errors="surrogatepass"), "sha256").digest()
        known = self._verified.get(key)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        user = self.users.get(name)
        if user is None:
            PasswordHasher().hash(password)  # same cost for unknown names: no user probing by timing
            return None
        try:
            PasswordHasher().verify(user.password_hash.get_secret_value(), password)
        except (VerificationError, InvalidHashError):
            return None
        who = Principal(user.name, user.role)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[key] = (who, time.monotonic() + VERIFIED_SECONDS)
        return who

    def token(self, token: str) -> Principal | None:
        digest = token_digest(token)
        for local in self.local:
            if hmac.compare_digest(local, digest):
                return Principal("local-cli", "manager")
        for t in self.tokens:
            if hmac.compare_digest(t.digest.get_secret_value(), digest):
                return Principal(t.name, t.role)
        return None

    def authorization(self, header: str | None) -> Principal | None:
        """The principal of an `Authorization: Bearer <token>` or `Basic <user:password>` header."""
        if self.open:
            return OPEN
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.token(value.strip())
        if scheme.lower() == "basic":
            try:
                name, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return self.password(name, password)
        return None
