"""Connection settings shared by every component, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["DEFAULT_FILE_TYPES", "DEFAULT_MAX_FILE_BYTES", "Settings", "redact_url"]

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
"""20 MiB: Anthropic's and OpenAI's limits for one image are 5 and 20 MB, for a PDF 32 MB."""
DEFAULT_FILE_TYPES: tuple[str, ...] = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
)
"""Images and PDFs (what `openai:` and `anthropic:` models take as files) and plain text
(sent to the model as text)."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_number(name: str, default: str, kind: type[int] | type[float]) -> Any:
    value = _env(name, default)
    try:
        number = kind(value)
    except ValueError:
        number = -1
    if number < 0:
        from agentchat.errors import ConfigurationError

        raise ConfigurationError(
            f"{name}={value!r} is not a {'whole ' if kind is int else ''}number of zero or more"
        )
    return number


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
        default_factory=lambda: _env_number("AGENTCHAT_STREAM_IDLE_TTL", "600", int)
    )
    """Seconds an idle chat's stream stays in Redis after its last turn ended."""
    database_url: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_DATABASE_URL", "") or None
    )
    """The chat store: `sqlite:///path/chats.db` on one box, `postgresql://...` in production.
    Workers and gateways refuse to start without one; a client needs it for the history of
    chats whose run ended, and for the directory of chats."""
    blob_url: str | None = field(default_factory=lambda: _env("AGENTCHAT_BLOB_URL", "") or None)
    """Attachments: `file:///dir` or a path on one box, `s3://bucket/prefix` in production."""
    max_file_bytes: int = field(
        default_factory=lambda: _env_number(
            "AGENTCHAT_MAX_FILE_BYTES", str(DEFAULT_MAX_FILE_BYTES), int
        )
    )
    """Largest file an upload takes here (gateway, client); an agent may allow less."""
    file_types: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            t.strip()
            for t in _env("AGENTCHAT_FILE_TYPES", ",".join(DEFAULT_FILE_TYPES)).split(",")
            if t.strip()
        )
    )
    """Media types an upload may have here (`image/*` and `*/*` allowed); an agent may
    allow fewer. Comma-separated in `AGENTCHAT_FILE_TYPES`."""
    retention_days: float | None = field(
        default_factory=lambda: _env_number("AGENTCHAT_RETENTION_DAYS", "0", float) or None
    )
    """Delete chats with no activity for this many days (an agent's own `retention` wins)."""
    url: str | None = field(default_factory=lambda: _env("AGENTCHAT_URL", "") or None)
    """The gateway's URL: when set, `AgentChat` talks HTTP to it instead of Temporal and Redis."""
    api_key: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_API_KEY", "") or None, repr=False
    )
    """The API key `AgentChat` sends to the gateway."""
    connect_timeout: float = 5.0
    shutdown_grace: float = field(
        default_factory=lambda: _env_number("AGENTCHAT_SHUTDOWN_GRACE", "30", float)
    )
    """Seconds a worker or gateway drains after SIGTERM before it stops whatever is left."""
    worker_max_lag: float = field(
        default_factory=lambda: _env_number("AGENTCHAT_WORKER_MAX_LAG", "0.02", float)
    )
    """Seconds a worker's event loop may lag and still take on new steps (admission control);
    past it, new steps wait in Temporal's task queue for room on this or another worker."""
    metrics_port: int | None = field(
        default_factory=lambda: _env_number("AGENTCHAT_METRICS_PORT", "0", int) or None
    )
    """Where a worker serves Prometheus `/metrics` and `/healthz` (off when unset)."""
    log_format: str = field(default_factory=lambda: _env("AGENTCHAT_LOG_FORMAT", "text"))
    """`text` for people, `json` for log pipelines: one object per line."""
    log_level: str = field(default_factory=lambda: _env("AGENTCHAT_LOG_LEVEL", "INFO").upper())

    # Secure connections. The Temporal fields default to None, meaning "ask temporalio's
    # standard client configuration" (TEMPORAL_* variables and the TOML profile), so one set of
    # variables serves the `temporal` CLI, other SDKs and agentchat alike.
    temporal_api_key: str | None = field(default=None, repr=False)
    """API key (Temporal Cloud); else `TEMPORAL_API_KEY` or the profile. Implies TLS."""
    temporal_tls: bool | None = None
    """Force TLS on or off; else `TEMPORAL_TLS`, else on when any TLS option or API key is set."""
    temporal_tls_server_ca_cert_path: str | None = None
    """CA that signed the server's certificate; else `TEMPORAL_TLS_SERVER_CA_CERT_PATH`."""
    temporal_tls_client_cert_path: str | None = None
    """mTLS client certificate (PEM); else `TEMPORAL_TLS_CLIENT_CERT_PATH`."""
    temporal_tls_client_key_path: str | None = None
    """mTLS client private key (PEM); else `TEMPORAL_TLS_CLIENT_KEY_PATH`."""
    temporal_tls_server_name: str | None = None
    """Name to verify the server's certificate against (SNI); else `TEMPORAL_TLS_SERVER_NAME`."""
    temporal_profile: str | None = None
    """Profile of the Temporal config file; else `TEMPORAL_PROFILE`, else `default`."""
    temporal_config_file: str | None = None
    """Temporal TOML config file; else `TEMPORAL_CONFIG_FILE`, else the standard location."""
    redis_username: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_REDIS_USERNAME", "") or None
    )
    """Redis ACL user; overrides the one in `redis_url`."""
    redis_password: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_REDIS_PASSWORD", "") or None, repr=False
    )
    """Redis password; overrides the one in `redis_url`, which then needs none."""
    redis_sentinel_username: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_REDIS_SENTINEL_USERNAME", "") or None
    )
    """ACL user for the Sentinels themselves (a `redis+sentinel://` URL's user is the master's)."""
    redis_sentinel_password: str | None = field(
        default_factory=lambda: _env("AGENTCHAT_REDIS_SENTINEL_PASSWORD", "") or None,
        repr=False,
    )
    """Password for the Sentinels themselves, when they require one."""

    def __repr__(self) -> str:
        # URLs may carry passwords (`redis://user:secret@host`): show them redacted.
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                if isinstance(value, str) and f.name.endswith("url"):
                    value = redact_url(value)
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def redact_url(url: str) -> str:
    """Hide the passwords in a URL so it can appear in logs and error messages.

    Copes with what `urlsplit` cannot parse: the host lists of cluster and Sentinel URLs,
    unencoded `/`, `?` or `@` in a password, and `?password=...` query parameters.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The last `@` ends the credentials, whatever characters the password holds.
    userinfo, at, rest = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        userinfo = (f"{user}:***" if user else "***") if colon else userinfo
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    hosts, tail = rest[:cut], rest[cut:]
    path, qmark, query = tail.partition("?")
    if qmark:
        query = "&".join(
            f"{k}=***" if "password" in k.lower() else f"{k}{eq}{v}"
            for k, eq, v in (item.partition("=") for item in query.split("&"))
        )
    return f"{scheme}://{userinfo}{at}{hosts}{path}{qmark}{query}"
