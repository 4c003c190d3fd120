"""How to reach Temporal, Redis and the chat store: settings to clients, cached per loop, no
secret printed."""

from agentchat.connections._connect import (
    RedisClient,
    TemporalTarget,
    get_redis,
    get_temporal,
    ping_redis,
    redis_client,
    temporal_target,
)
from agentchat.connections._store import get_store, require_database_url, store_failure

__all__ = [
    "RedisClient",
    "TemporalTarget",
    "get_redis",
    "get_store",
    "get_temporal",
    "ping_redis",
    "redis_client",
    "require_database_url",
    "store_failure",
    "temporal_target",
]
