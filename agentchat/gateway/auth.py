"""Who may call the gateway: API keys for servers, chat and user JWTs for browsers.

An API key may do everything, for any owner. A token minted with one expires and is either a
chat token, naming a single chat (and optionally the only agent it may talk to), or a user
token, naming a user: it acts as that owner on every chat-scoped route and sees only that
user's chats. Browsers pass tokens as a bearer header, a `?token=` query parameter
(`EventSource` cannot set headers) or the `agentchat_token` cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from fastapi import Security
from fastapi.params import Depends
from fastapi.security import APIKeyCookie, APIKeyHeader, APIKeyQuery, HTTPBearer
from starlette.requests import HTTPConnection

from agentchat.errors import AuthenticationError, PermissionDeniedError
from agentchat.gateway.problems import ApiError

__all__ = ["CREDENTIALS", "Auth", "Principal"]

TOKEN_COOKIE = "agentchat_token"
_ALGORITHM = "HS256"
_AUDIENCE = "agentchat-chat"
_USER_AUDIENCE = "agentchat-user"
"""A user token's audience: a chat token can never be read as one, nor the other way round."""

#: Route dependencies that declare the accepted credentials in the OpenAPI document (any one
#: of them); `Auth.authenticate` reads and checks them.
CREDENTIALS: list[Depends] = [
    Security(HTTPBearer(auto_error=False, description="An API key, a chat or a user token.")),
    Security(APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")),
    Security(APIKeyQuery(name="token", auto_error=False, description="A chat or user token.")),
    Security(
        APIKeyCookie(name=TOKEN_COOKIE, auto_error=False, description="A chat or user token.")
    ),
]


@dataclass(frozen=True)
class Principal:
    """The caller: an API key (every chat, any owner), a chat token (one chat) or a user
    token (the chats of one owner, `user_id`)."""

    chat_id: str | None = None
    agent: str | None = None
    user_id: str | None = None
    expires_at: int | None = None
    """When the token expires (Unix seconds); None for an API key. A WebSocket session checks
    it on every frame it receives, and ends when it passes."""

    def expired(self, now: float | None = None) -> bool:
        """Whether the token this caller authenticated with has expired since."""
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    @property
    def is_server(self) -> bool:
        """An API key (or an open gateway): acts for every owner."""
        return self.chat_id is None and self.user_id is None

    @property
    def owner(self) -> str | None:
        """The owner this caller acts as; None acts for any (an API key, a chat token)."""
        return self.user_id

    def owner_for(self, requested: str | None) -> str | None:
        """The owner a request that may create a chat acts as, given the body's `owner`.

        An API key may name any owner (None: the chat has none); a user token is its user,
        and may only name itself; a chat token names none (it could otherwise hand its chat
        to someone's directory).
        """
        if self.is_server:
            return requested
        if requested is not None and requested != self.user_id:
            who = "a chat token" if self.user_id is None else "a user token"
            raise ApiError(
                403, PermissionDeniedError.__name__, f"{who} may not act for another owner"
            )
        return self.user_id

    def check_chat(self, chat_id: str) -> None:
        """A chat token's chat (user tokens are checked against the chat store instead)."""
        if self.chat_id is not None and not hmac.compare_digest(self.chat_id, chat_id):
            raise ApiError(
                403, PermissionDeniedError.__name__, "this token is scoped to another chat"
            )

    def check_agent(self, agent: str | None) -> None:
        if self.agent is not None and agent is not None and agent != self.agent:
            raise ApiError(
                403, PermissionDeniedError.__name__, f"this token may not talk to agent {agent!r}"
            )


class Auth:
    """Verifies credentials and mints chat and user tokens.

    Args:
        api_keys: Accepted API keys. None means an open gateway (loopback only).
        token_secret: The HS256 signing key; derived from the API keys when not given, so
            replicas configured with the same keys accept each other's tokens.
    """

    def __init__(self, api_keys: tuple[str, ...], token_secret: str | None = None) -> None:
        self._keys = tuple(k.encode() for k in api_keys if k)
        if token_secret:
            self._secret = token_secret.encode()
        elif self._keys:
            joined = b"\n".join(sorted(self._keys))
            self._secret = hmac.new(joined, b"agentchat token secret", hashlib.sha256).digest()
        else:  # open gateway: tokens still work, for this process only
            self._secret = secrets.token_bytes(32)

    @property
    def open(self) -> bool:
        return not self._keys

    def authenticate(self, conn: HTTPConnection) -> Principal:
        """The caller of this request; raises `ApiError(401)` when it has no valid credential."""
        credential = _credential(conn)
        if credential and self._is_api_key(credential):
            return Principal()
        if credential and credential.count(".") == 2:
            return self._verify(credential)
        if self.open:
            return Principal()
        if not credential:
            raise ApiError(
                401,
                AuthenticationError.__name__,
                "missing credentials: send 'Authorization: Bearer <API key or token>',"
                " 'X-API-Key', '?token=' or the agentchat_token cookie",
            )
        raise ApiError(401, AuthenticationError.__name__, "invalid API key or token")

    def mint(self, chat_id: str, agent: str | None, ttl_seconds: int) -> tuple[str, int]:
        """A token for one chat; returns it and its expiry (Unix seconds)."""
        return self._mint(chat_id, _AUDIENCE, agent, ttl_seconds)

    def mint_user(self, user_id: str, agent: str | None, ttl_seconds: int) -> tuple[str, int]:
        """A token for one user's chats (the owner `user_id`); returns it and its expiry."""
        return self._mint(user_id, _USER_AUDIENCE, agent, ttl_seconds)

    def mint_session(
        self, chat_id: str, user_id: str | None, agent: str | None, ttl_seconds: int
    ) -> tuple[str, int]:
        """A short-lived session token for one chat (`POST /v1/chats/{id}/session`).

        Without `user_id`, a chat token. With one, a user token narrowed to the chat: it acts
        as that owner (a new chat it creates is theirs) on that one chat only, and lists none.
        """
        if user_id is None:
            return self.mint(chat_id, agent, ttl_seconds)
        return self._mint(user_id, _USER_AUDIENCE, agent, ttl_seconds, chat=chat_id)

    def _mint(
        self,
        subject: str,
        audience: str,
        agent: str | None,
        ttl_seconds: int,
        chat: str | None = None,
    ) -> tuple[str, int]:
        now = int(time.time())
        expires = now + ttl_seconds
        claims: dict[str, object] = {"sub": subject, "aud": audience, "iat": now, "exp": expires}
        if agent is not None:
            claims["agent"] = agent
        if chat is not None:
            claims["chat"] = chat
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), expires

    def _is_api_key(self, credential: str) -> bool:
        candidate = credential.encode()
        # Compare against every key, whatever matches, so timing reveals nothing.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched

    def _verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=[_AUDIENCE, _USER_AUDIENCE],
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(401, AuthenticationError.__name__, "the token has expired") from None
        except jwt.PyJWTError:
            raise ApiError(401, AuthenticationError.__name__, "invalid API key or token") from None
        agent = claims.get("agent")
        agent = str(agent) if agent else None
        subject = str(claims["sub"])
        expires = int(claims["exp"])
        if claims["aud"] == _USER_AUDIENCE:
            chat = claims.get("chat")  # a session token: the user's, on one chat
            chat_id = str(chat) if chat else None
            return Principal(user_id=subject, agent=agent, expires_at=expires, chat_id=chat_id)
        return Principal(chat_id=subject, agent=agent, expires_at=expires)


def _credential(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for candidate in (
        conn.headers.get("x-api-key"),
        conn.query_params.get("token"),
        conn.cookies.get(TOKEN_COOKIE),
    ):
        if candidate:
            return candidate
    return None
