"""Who may call the gateway: API keys for servers, chat-scoped JWTs for browsers.

An API key may do everything. A token minted with one names a single chat (and optionally
the only agent it may talk to) and expires; browsers pass it as a bearer header, a `?token=`
query parameter (`EventSource` cannot set headers) or the `agentchat_token` cookie.
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

#: Route dependencies that declare the accepted credentials in the OpenAPI document (any one
#: of them); `Auth.authenticate` reads and checks them.
CREDENTIALS: list[Depends] = [
    Security(HTTPBearer(auto_error=False, description="An API key or a chat token.")),
    Security(APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")),
    Security(APIKeyQuery(name="token", auto_error=False, description="A chat token.")),
    Security(APIKeyCookie(name=TOKEN_COOKIE, auto_error=False, description="A chat token.")),
]


@dataclass(frozen=True)
class Principal:
    """The caller: an API key (every chat) or a token scoped to one chat."""

    chat_id: str | None = None
    agent: str | None = None

    @property
    def is_server(self) -> bool:
        return self.chat_id is None

    def check_chat(self, chat_id: str) -> None:
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
    """Verifies credentials and mints chat tokens.

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
                "missing credentials: send 'Authorization: Bearer <API key or chat token>',"
                " 'X-API-Key', '?token=' or the agentchat_token cookie",
            )
        raise ApiError(401, AuthenticationError.__name__, "invalid API key or token")

    def mint(self, chat_id: str, agent: str | None, ttl_seconds: int) -> tuple[str, int]:
        """A token for one chat; returns it and its expiry (Unix seconds)."""
        now = int(time.time())
        expires = now + ttl_seconds
        claims: dict[str, object] = {"sub": chat_id, "aud": _AUDIENCE, "iat": now, "exp": expires}
        if agent is not None:
            claims["agent"] = agent
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
                audience=_AUDIENCE,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(
                401, AuthenticationError.__name__, "the chat token has expired"
            ) from None
        except jwt.PyJWTError:
            raise ApiError(401, AuthenticationError.__name__, "invalid API key or token") from None
        agent = claims.get("agent")
        return Principal(chat_id=str(claims["sub"]), agent=str(agent) if agent else None)


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
