"""Process-wide Temporal clients and Redis pools, shared by every `AgentChat` and worker.

A webhook server handling many chats must not reconnect per request: connections are cached
per event loop and per target, and created with short timeouts so an unreachable service
gives a clear error within seconds instead of a hang.

Where and how to connect is resolved elsewhere: `agentchat.connections._temporal` (Settings plus
the `TEMPORAL_*` variables and TOML profile) and `agentchat.connections._redis` (the Redis URL:
`redis://`, `rediss://`, `unix://`, `redis[s]+cluster://`, `redis[s]+sentinel://`); their
public names are re-exported here.

Secrets (API keys, passwords, private keys) never reach a repr, a log line or an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import RedisClusterException, RedisError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from agentchat.connections._redaction import fingerprint, scrub
from agentchat.connections._redis import RedisClient, _redis_failure, redis_client
from agentchat.connections._temporal import TemporalTarget, temporal_target
from agentchat.errors import RedisUnavailableError, TemporalUnavailableError
from agentchat.settings import Settings
from agentchat.tracing import client_interceptors

__all__ = [
    "RedisClient",
    "TemporalTarget",
    "get_redis",
    "get_temporal",
    "ping_redis",
    "redis_client",
    "temporal_target",
]

log = logging.getLogger("agentchat.connections")

_temporal: dict[tuple[int, str], asyncio.Future[Client]] = {}
"""Per loop and target: the shared connect, done or under way."""
_redis: dict[tuple[int, str], RedisClient] = {}


def _loop_id() -> int:
    return id(asyncio.get_running_loop())


# -- Temporal -------------------------------------------------------------------------------


async def get_temporal(settings: Settings) -> Client:
    """The shared Temporal client for `settings`, connecting on first use.

    Args:
        settings: Where Temporal is and how to authenticate; see `temporal_target`.

    Raises:
        ConfigurationError: The TLS or profile settings are unusable.
        TemporalUnavailableError: No connection within `settings.connect_timeout`; the message
            names the address and whether TLS and an API key were used, never the key.
    """
    target = temporal_target(settings)
    key = (_loop_id(), target.cache_key())
    task = _temporal.get(key)
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
        interceptors = client_interceptors()  # a bad tracing setting fails here, uncached
        task = asyncio.ensure_future(_connect_temporal(target, interceptors, settings))
        # Retrieved here too, so a connect whose callers all gave up logs no "never retrieved".
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        _temporal[key] = task
    # Shielded: a caller that gives up (a 2 s readiness probe, a cancelled request) must not
    # cancel the connect every other caller shares, nor leave it half-done in the cache.
    try:
        return await asyncio.shield(task)
    except TemporalUnavailableError:
        if _temporal.get(key) is task:
            del _temporal[key]
        raise


async def _connect_temporal(
    target: TemporalTarget, interceptors: list[Any], settings: Settings
) -> Client:
    try:
        client = await asyncio.wait_for(
            Client.connect(
                **target.connect_kwargs(),
                data_converter=pydantic_data_converter,
                interceptors=interceptors,
            ),
            settings.connect_timeout,
        )
    except (TimeoutError, RPCError, RuntimeError, OSError) as exc:
        detail = scrub(str(exc), [target.api_key, *target.rpc_metadata.values()])
        raise TemporalUnavailableError(
            f"cannot reach Temporal at {target.address} (namespace {target.namespace!r},"
            f" {target.security}) within {settings.connect_timeout:g}s:"
            f" {type(exc).__name__}: {detail}"
            " - is the server running, and are its address, TLS settings and credentials"
            " right? (`agentchat dev` starts one; AGENTCHAT_TEMPORAL_ADDRESS or"
            " TEMPORAL_ADDRESS points elsewhere, TEMPORAL_TLS_* and TEMPORAL_API_KEY"
            " secure it)"
        ) from None
    log.info(
        "connected to Temporal at %s (namespace %s, %s)",
        target.address,
        target.namespace,
        target.security,
    )
    return client


# -- Redis ----------------------------------------------------------------------------------


async def get_redis(settings: Settings, *, check: bool = False) -> RedisClient:
    """The shared Redis client for `settings`; with `check`, ping it first.

    Args:
        settings: `redis_url` and the optional `redis_*` credentials; see `redis_client`.
        check: Ping the server, so a wrong address or password fails here and not later.

    Raises:
        ConfigurationError: The URL is unusable.
        RedisUnavailableError: With `check`, the server did not answer or refused the login.
    """
    key = (
        _loop_id(),
        fingerprint(
            settings.redis_url,
            settings.redis_username,
            settings.redis_password,
            settings.redis_sentinel_username,
            settings.redis_sentinel_password,
            settings.connect_timeout,
        ),
    )
    redis = _redis.get(key)
    if redis is None:
        redis = redis_client(settings)
        _redis[key] = redis
    if check:
        await ping_redis(redis, settings)
    return redis


async def ping_redis(redis: RedisClient, settings: Settings) -> None:
    """Ping `redis`, raising `RedisUnavailableError` with a redacted, actionable message."""
    try:
        await asyncio.wait_for(redis.ping(), settings.connect_timeout)
    except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
        raise RedisUnavailableError(_redis_failure(exc, settings)) from None
