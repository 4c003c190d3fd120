"""Connection settings shared by every component, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Settings", "redact_url"]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """Where Temporal and Redis live, and how chats behave on the wire.

    Every field defaults to its `AGENTCHAT_*` environment variable, then to a local default.
    """

    temporal_address: str = field(
        default_factory=lambda: _env("AGENTCHAT_TEMPORAL_ADDRESS", "localhost:7233")
    )
    temporal_namespace: str = field(
        default_factory=lambda: _env("AGENTCHAT_TEMPORAL_NAMESPACE", "default")
    )
    task_queue: str = field(default_factory=lambda: _env("AGENTCHAT_TASK_QUEUE", "agentchat"))
    redis_url: str = field(
        default_factory=lambda: _env("AGENTCHAT_REDIS_URL", "redis://localhost:6379/0")
    )
    stream_idle_ttl: int = field(
        default_factory=lambda: int(_env("AGENTCHAT_STREAM_IDLE_TTL", "600"))
    )
    """Seconds an idle chat's stream stays in Redis after its last turn ended."""
    url: str | None = field(default_factory=lambda: _env("AGENTCHAT_URL", "") or None)
    """The gateway's URL: when set, `AgentChat` talks HTTP to it instead of Temporal and Redis."""
    api_key: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_API_KEY", "") or None, repr=False
    )
    """The API key `AgentChat` sends to the gateway."""
    connect_timeout: float = 5.0
    shutdown_grace: float = field(
        default_factory=lambda: float(_env("AGENTCHAT_SHUTDOWN_GRACE", "30"))
    )
    """Seconds a worker or gateway drains after SIGTERM before it stops whatever is left."""
    metrics_port: int | None = field(
        default_factory=lambda: int(_env("AGENTCHAT_METRICS_PORT", "0")) or None
    )
    """Where a worker serves Prometheus `/metrics` and `/healthz` (off when unset)."""
    log_format: str = field(default_factory=lambda: _env("AGENTCHAT_LOG_FORMAT", "text"))
    """`text` for people, `json` for log pipelines: one object per line."""
    log_level: str = field(default_factory=lambda: _env("AGENTCHAT_LOG_LEVEL", "INFO").upper())

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def redact_url(url: str) -> str:
    """Drop the password from a URL so it can appear in logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" if user else f"***@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
