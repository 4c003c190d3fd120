"""How to reach Temporal and Redis: settings to clients, cached per loop, no secret printed."""

from agentchat.connections._connect import (
    RedisClient,
    TemporalTarget,
    get_redis,
    get_temporal,
    ping_redis,
    redis_client,
    temporal_target,
)

__all__ = [
    "RedisClient",
    "TemporalTarget",
    "get_redis",
    "get_temporal",
    "ping_redis",
    "redis_client",
    "temporal_target",
]
