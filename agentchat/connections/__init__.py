"""How to reach Temporal, Redis, the chat store and the blob store: settings to clients,
cached per loop, no secret printed."""

from agentchat.connections._blobs import get_blob_store, require_blob_url
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
    "get_blob_store",
    "get_redis",
    "get_store",
    "get_temporal",
    "ping_redis",
    "redis_client",
    "require_blob_url",
    "require_database_url",
    "store_failure",
    "temporal_target",
]
