"""What every route module shares: the configuration, the `Gateway` dependencies object and
the request-scoped helpers routes declare as FastAPI dependencies.

The route modules (`native`, `aisdk`, `health`) import from here, never from each other nor
from `app`, which assembles them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Header, Path, Request
from redis.exceptions import RedisError
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from agentchat.client import AgentChat
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import ConfigurationError
from agentchat.gateway.auth import Auth, Principal
from agentchat.gateway.owners import check_may_write, check_visible
from agentchat.gateway.problems import ApiError
from agentchat.gateway.schemas import ErrorBody
from agentchat.logs import bind_log_context
from agentchat.protocol.envelope import RESYNC, envelope
from agentchat.protocol.identifiers import CHAT_ID_PATTERN
from agentchat.settings import Settings
from agentchat.stream._store import Entry, StreamStore, id_tuple
from agentchat.workflows.chat import workflow_id_for

__all__ = [
    "ERROR_RESPONSES",
    "ChatCaller",
    "ChatId",
    "Gateway",
    "GatewayConfig",
    "Gw",
    "InputCaller",
    "LastEventId",
    "caller",
    "chat_caller",
    "follow_chat",
    "gateway_of",
    "input_caller",
]

log = logging.getLogger("agentchat.gateway")


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in os.environ.get(name, "").split(",") if k.strip())


@dataclass(frozen=True)
class GatewayConfig:
    """How the gateway behaves; every field defaults to its environment variable.

    Attributes:
        api_keys: `AGENTCHAT_API_KEYS`, comma-separated. Empty: an open gateway, which only
            listens on loopback addresses.
        token_secret: `AGENTCHAT_TOKEN_SECRET`, the key chat tokens are signed with; derived
            from the API keys when unset.
        default_agent: `AGENTCHAT_GATEWAY_AGENT`, the agent of a new chat that names none.
        cors_origins: `AGENTCHAT_CORS_ORIGINS`, comma-separated browser origins allowed.
        max_body_bytes: Larger request bodies get `413`.
        keepalive_seconds: A comment line on an idle SSE stream this often.
        retry_ms: The `retry:` hint for `EventSource` reconnects.
        max_token_ttl: The longest a token `POST /v1/tokens` mints may live.
        ws_send_queue: Frames a WebSocket session holds for a client that reads slower than
            the chat streams (reading pauses while the queue is full).
        ws_stall_seconds: When the queue stays full this long, the session tells the client
            to resume from its last event and closes (1013).
        ws_ping_seconds: Protocol-level pings on an open WebSocket this often (uvicorn's);
            a client that does not answer within as long again is disconnected.
    """

    api_keys: tuple[str, ...] = field(default_factory=lambda: _env_list("AGENTCHAT_API_KEYS"))
    token_secret: str | None = field(
        default_factory=lambda: os.environ.get("AGENTCHAT_TOKEN_SECRET") or None
    )
    default_agent: str | None = field(
        default_factory=lambda: os.environ.get("AGENTCHAT_GATEWAY_AGENT") or None
    )
    cors_origins: tuple[str, ...] = field(
        default_factory=lambda: _env_list("AGENTCHAT_CORS_ORIGINS")
    )
    max_body_bytes: int = 1024 * 1024
    keepalive_seconds: float = 15.0
    retry_ms: int = 2000
    max_token_ttl: int = 7 * 24 * 3600
    ws_send_queue: int = 256
    ws_stall_seconds: float = 10.0
    ws_ping_seconds: float = 20.0

    def check_host(self, host: str) -> None:
        """Refuse to serve an open gateway beyond this machine."""
        if self.api_keys:
            return
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigurationError(
                f"refusing to listen on {host} without API keys: set AGENTCHAT_API_KEYS"
                " (comma-separated), or listen on 127.0.0.1"
            )


class Gateway:
    """What every route shares: settings, auth, and per-loop connections."""

    def __init__(self, settings: Settings, config: GatewayConfig) -> None:
        self.settings = settings
        self.config = config
        self.auth = Auth(config.api_keys, config.token_secret)
        self._store: StreamStore | None = None
        self.draining = False
        """Set on SIGTERM. The listener closes at once (health checks then fail to connect);
        requests on connections still open see `/readyz` answer `503`."""
        self.sessions: set[Drainable] = set()
        """The open WebSocket sessions (`ws`), told to move elsewhere on SIGTERM."""

    async def drain_sessions(self, within: float = 2.0) -> None:
        """Tell every open WebSocket session to resume elsewhere, and wait (at most `within`
        seconds) until they have said so and closed."""
        self.draining = True
        for session in list(self.sessions):
            session.drain()
        async with asyncio.timeout(within):
            while self.sessions:  # noqa: ASYNC110 - sessions leave the set as they close
                await asyncio.sleep(0.02)

    async def store(self) -> StreamStore:
        redis = await get_redis(self.settings)
        if self._store is None or self._store.redis is not redis:
            self._store = StreamStore(redis)
        return self._store

    def chat(self, chat_id: str, agent: str | None = None, **options: Any) -> AgentChat:
        # Control calls (stop, close, answers) never start a run, so they need no agent name.
        return AgentChat(agent or "-", chat_id, settings=self.settings, **options)

    async def input_owner(
        self, chat_id: str, principal: Principal, requested: str | None
    ) -> str | None:
        """The owner input that may create the chat acts as (the body's `owner`, if the
        caller may name it); another owner's chat is a `404` before anything is sent."""
        owner = principal.owner_for(requested)
        await check_may_write(self.settings, owner, chat_id)
        return owner

    async def running(self, chat_id: str) -> bool:
        """Whether the chat's workflow run is open (False when it ended or never existed)."""
        client = await get_temporal(self.settings)
        try:
            description = await client.get_workflow_handle(workflow_id_for(chat_id)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    async def agent_of(self, chat_id: str, requested: str | None, principal: Principal) -> str:
        """The agent a request talks to: named by it, its token, the chat, or the default."""
        principal.check_agent(requested)
        agent = requested or principal.agent
        if agent is None:
            status = await self.chat(chat_id).status()
            agent = status.agent if status is not None else self.config.default_agent
        if agent is None:
            raise ApiError(
                422,
                "InvalidRequestError",
                "name the agent: a new chat needs 'agent' in the body (or ?agent=)",
                ["agent"],
            )
        principal.check_agent(agent)
        return agent


class Drainable(Protocol):
    """An open session the gateway ends when it drains."""

    def drain(self) -> None: ...


async def follow_chat(
    gateway: Gateway, chat_id: str, cursor: str, running: bool | None
) -> AsyncIterator[Entry]:
    """The chat's entries after `cursor`, across turns, live: what `/events` and a WebSocket
    session forward.

    First a `resync` entry (no id) when retention trimmed what the reader missed. With
    `running` False it ends once caught up; True follows until the chat's run ends; None
    follows for as long as the reader does (a WebSocket session, which outlives runs).
    Redis failing over ten times in a row ends it (the client resumes with its last id).
    """
    store = await gateway.store()
    first = await store.first_entry(chat_id)
    if cursor != "0-0" and (first is None or id_tuple(first.id) > id_tuple(cursor)):
        # Retention trimmed what the reader missed: it should reload the transcript.
        yield Entry("", envelope(RESYNC, first=first and first.id))
    failures = 0
    count = 50  # a small first batch: the first event sooner
    while True:
        try:
            # Once the run has ended nothing more comes: drain without waiting.
            block = 1 if running is False else 5000
            entries = await store.read(chat_id, cursor, block_ms=block, count=count)
            count = 500
            failures = 0
        except (RedisError, OSError) as exc:
            failures += 1
            if failures > 10:
                return  # the client reconnects with its last id
            log.warning("chat %s: follow read failed (%s)", chat_id, exc)
            await asyncio.sleep(min(0.1 * 2**failures, 2.0))
            continue
        for entry in entries:
            cursor = entry.id
            yield entry
        if entries or running is None:
            continue
        if not running:
            return  # caught up after the run ended
        try:
            # Ended: one more read then, for what it wrote since the last one.
            running = await gateway.running(chat_id)
        except Exception:  # Temporal briefly unreachable: keep following
            continue


# -- request-scoped dependencies ----------------------------------------------------------------

#: The error answers every authenticated route documents.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 410, 413, 422, 503, 504)
}

ChatId = Annotated[str, Path(pattern=CHAT_ID_PATTERN, description="The chat id.")]
LastEventId = Annotated[str | None, Header(alias="last-event-id", include_in_schema=False)]


def gateway_of(request: Request) -> Gateway:
    """The app's `Gateway` (`create_app` puts it on `app.state`)."""
    gateway: Gateway = request.app.state.gateway
    return gateway


def caller(request: Request) -> Principal:
    """Who sent the request; raises `ApiError(401)` without a valid credential."""
    return gateway_of(request).auth.authenticate(request)


async def input_caller(chat_id: ChatId, request: Request) -> Principal:
    """The caller of a route that may create the chat (a message, a steer, a preload),
    checked against a chat token's chat; the route checks the owner it acts as
    (`Gateway.input_owner`). Binds the chat to the log context."""
    # Async so it runs in the request's task: the log context then covers the handler and
    # its SSE response, which runs in child tasks of the request's.
    bind_log_context(chat_id=chat_id)
    principal = caller(request)
    principal.check_chat(chat_id)
    return principal


async def chat_caller(chat_id: ChatId, request: Request) -> Principal:
    """The caller of a route on an existing chat: a chat token's own chat, a user token's
    user's chat (else `404`, as for a chat that does not exist)."""
    principal = await input_caller(chat_id, request)
    await check_visible(gateway_of(request).settings, principal, chat_id)
    return principal


Gw = Annotated[Gateway, Depends(gateway_of)]
ChatCaller = Annotated[Principal, Depends(chat_caller)]
InputCaller = Annotated[Principal, Depends(input_caller)]
