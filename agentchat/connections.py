"""Process-wide Temporal clients and Redis pools, shared by every `AgentChat` and worker.

A webhook server handling many chats must not reconnect per request: connections are cached
per event loop and per address, and created with short timeouts so an unreachable service
gives a clear error within seconds instead of a hang.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from agentchat.errors import RedisUnavailableError, TemporalUnavailableError
from agentchat.settings import Settings, redact_url

__all__ = ["get_redis", "get_temporal", "ping_redis"]

_temporal: dict[tuple[int, str, str], asyncio.Future[Client]] = {}
_redis: dict[tuple[int, str], Redis] = {}


def _loop_id() -> int:
    return id(asyncio.get_running_loop())


async def get_temporal(settings: Settings) -> Client:
    """The shared Temporal client for `settings`, connecting on first use."""
    key = (_loop_id(), settings.temporal_address, settings.temporal_namespace)
    future = _temporal.get(key)
    if future is None or (future.done() and future.exception() is not None):
        future = asyncio.get_running_loop().create_future()
        _temporal[key] = future
        try:
            client = await asyncio.wait_for(
                Client.connect(
                    settings.temporal_address,
                    namespace=settings.temporal_namespace,
                    data_converter=pydantic_data_converter,
                ),
                settings.connect_timeout,
            )
        except (TimeoutError, RPCError, RuntimeError, OSError) as exc:
            error = TemporalUnavailableError(
                f"cannot reach Temporal at {settings.temporal_address}"
                f" (namespace {settings.temporal_namespace!r}) within"
                f" {settings.connect_timeout:g}s: {type(exc).__name__}: {exc}"
                " - is the server running? (`agentchat dev` starts one;"
                " AGENTCHAT_TEMPORAL_ADDRESS points elsewhere)"
            )
            future.set_exception(error)
            future.exception()  # mark retrieved
            del _temporal[key]
            raise error from None
        future.set_result(client)
        return client
    return await future


async def get_redis(settings: Settings, *, check: bool = False) -> Redis:
    """The shared Redis client for `settings`; with `check`, ping it first."""
    key = (_loop_id(), settings.redis_url)
    redis = _redis.get(key)
    if redis is None:
        redis = Redis.from_url(
            settings.redis_url,
            # A pooled connection the server dropped (restart, failover, CLIENT KILL) is
            # replaced and the command retried; every write we make is idempotent.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            socket_connect_timeout=settings.connect_timeout,
            # Above the longest XREAD BLOCK a stream issues (5 s), so a quiet stream is not
            # mistaken for a dead connection.
            socket_timeout=30,
            socket_keepalive=True,
            health_check_interval=30,
            max_connections=1000,
        )
        _redis[key] = redis
    if check:
        await ping_redis(redis, settings)
    return redis


async def ping_redis(redis: Redis, settings: Settings) -> None:
    try:
        await asyncio.wait_for(redis.ping(), settings.connect_timeout)
    except (TimeoutError, RedisError, OSError) as exc:
        raise RedisUnavailableError(
            f"cannot reach Redis at {redact_url(settings.redis_url)} within"
            f" {settings.connect_timeout:g}s: {type(exc).__name__}"
            " - is it running? (`agentchat dev` starts one; AGENTCHAT_REDIS_URL points elsewhere)"
        ) from None
