"""Redis URLs: parsing `settings.redis_url` and building (not connecting) the client.

Redis takes one URL: `redis://`, `rediss://` (TLS), `unix://`, `redis[s]+cluster://` and
`redis[s]+sentinel://`, plus the optional `redis_*` credentials of `Settings`. This module
turns them into a redis-py client and explains failures without leaking a password;
`agentchat.connections` caches the clients per event loop and pings them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import (
    BlockingConnectionPool,
    Connection,
    SSLConnection,
    parse_url,
)
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError as RedisAuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from agentchat.connections._redaction import scrub
from agentchat.errors import ConfigurationError
from agentchat.settings import Settings, redact_url

__all__ = ["RedisClient", "redis_client"]

POOL_WAIT = 30.0
"""Seconds a command waits for a pooled connection when all 1,000 are busy, before failing."""

RedisClient: TypeAlias = Redis | RedisCluster
"""What `get_redis` returns: a plain or Sentinel-managed `Redis`, or a `RedisCluster`."""

_SCHEMES = "redis://, rediss://, unix://, redis[s]+cluster:// or redis[s]+sentinel://"
_SSL_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True)
class _RedisUrl:
    tls: bool
    mode: str  # "", "cluster" or "sentinel"
    hosts: list[tuple[str, int]]
    options: dict[str, Any]  # redis-py connection kwargs: credentials, db, ssl_*, ...
    service: str = ""


def _parse_redis_url(settings: Settings) -> _RedisUrl:
    url = settings.redis_url
    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    base, _, mode = scheme.lower().partition("+")
    if (
        not sep
        or base not in ("redis", "rediss", "unix")
        or mode not in ("", "cluster", "sentinel")
    ):
        raise ConfigurationError(f"AGENTCHAT_REDIS_URL {shown!r}: use {_SCHEMES}")
    if base == "unix" and mode:
        raise ConfigurationError(f"AGENTCHAT_REDIS_URL {shown!r}: {scheme}:// needs a host")
    userinfo, at, rest = rest.rpartition("@")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    path, _, query = tail.partition("?")
    default_port = 26379 if mode == "sentinel" else 6379
    hosts = [_host_port(h, default_port, shown) for h in netloc.split(",") if h] if mode else []
    service = ""
    if mode == "sentinel":
        service, _, path = path.strip("/").partition("/")
        if not service:
            raise ConfigurationError(
                f"AGENTCHAT_REDIS_URL {shown!r}: name the master after the hosts, as in"
                " redis+sentinel://host1:26379,host2:26379/mymaster[/db]"
            )
        service, path = unquote(service), f"/{path}"
    if mode and not hosts:
        raise ConfigurationError(f"AGENTCHAT_REDIS_URL {shown!r}: no host")
    # Let redis-py parse credentials and query options exactly as it would for one host.
    single = url if not mode else f"{base}://{userinfo}{at}localhost{path}?{query}"
    try:
        options: dict[str, Any] = dict(parse_url(single))
    except ValueError as exc:
        raise ConfigurationError(f"AGENTCHAT_REDIS_URL {shown!r}: {exc}") from None
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password:
        options["password"] = settings.redis_password
    connection_class = options.pop("connection_class", None)
    tls = connection_class is SSLConnection
    if base == "unix":
        options["connection_class"] = connection_class
    for name in _SSL_FILES:
        value = options.get(name)
        if value is not None and not tls:
            raise ConfigurationError(
                f"AGENTCHAT_REDIS_URL {shown!r}: {name} needs TLS: use rediss:// (or"
                " rediss+cluster://, rediss+sentinel://)"
            )
        if value is not None and not Path(value).is_file():
            raise ConfigurationError(
                f"AGENTCHAT_REDIS_URL {shown!r}: {name} {value!r}: no such file"
            )
    if mode:
        options.pop("host", None)
        options.pop("port", None)
    if mode == "cluster" and options.get("db"):
        raise ConfigurationError(
            f"AGENTCHAT_REDIS_URL {shown!r}: Redis Cluster has only database 0"
        )
    return _RedisUrl(tls, mode, hosts, options, service)


def _host_port(host: str, default: int, shown: str) -> tuple[str, int]:
    if host.startswith("["):  # IPv6: [::1]:6379
        name, _, port = host[1:].partition("]")
        port = port.removeprefix(":")
    else:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    if port and not port.isdigit():
        raise ConfigurationError(f"AGENTCHAT_REDIS_URL {shown!r}: bad port in {host!r}")
    return unquote(name), int(port) if port else default


def redis_client(settings: Settings) -> RedisClient:
    """Build a new Redis client for `settings.redis_url` (no I/O; `get_redis` caches one).

    `redis://` and `rediss://` URLs take redis-py's query options (`ssl_ca_certs`,
    `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs`, `ssl_check_hostname`, ...).
    `redis[s]+cluster://host1:6379,host2:6379` connects to a Redis Cluster through any of the
    listed nodes; `redis[s]+sentinel://host1:26379,host2:26379/<master>[/db]` asks those
    Sentinels for the master of `<master>` and follows failovers. The URL's user and password
    are the data nodes'; `settings.redis_sentinel_*` authenticate to the Sentinels.

    Raises:
        ConfigurationError: The URL is malformed or names a TLS file that does not exist.
    """
    parsed = _parse_redis_url(settings)
    common: dict[str, Any] = {
        # A pooled connection the server dropped (restart, failover, CLIENT KILL) is
        # replaced and the command retried; every write we make is idempotent.
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "socket_connect_timeout": settings.connect_timeout,
        # Above the longest XREAD BLOCK a stream issues (5 s), so a quiet stream is not
        # mistaken for a dead connection.
        "socket_timeout": 30,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "max_connections": 1000,
    }
    # Query options win over our defaults, as they do in redis-py's own from_url.
    options = {**common, **parsed.options}
    shown = redact_url(settings.redis_url)
    try:
        if parsed.mode == "cluster":
            return RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in parsed.hosts],
                ssl=parsed.tls,
                **options,
            )
        _check_options(options, parsed.tls)
        if parsed.mode == "sentinel":
            return _sentinel_master(settings, parsed, options)
        if parsed.tls:
            options["connection_class"] = SSLConnection
        return Redis.from_pool(BlockingConnectionPool(timeout=POOL_WAIT, **options))
    except (TypeError, ValueError, RedisClusterException) as exc:
        raise ConfigurationError(f"AGENTCHAT_REDIS_URL {shown!r}: {exc}") from None


def _check_options(options: dict[str, Any], tls: bool) -> None:
    # redis-py passes unknown query options to each connection and fails only at the first
    # command; building one connection (no I/O) reports the mistake now.
    kwargs = {k: v for k, v in options.items() if k not in ("max_connections", "connection_class")}
    connection_class = options.get("connection_class") or (SSLConnection if tls else Connection)
    connection_class(**kwargs)


def _sentinel_master(settings: Settings, parsed: _RedisUrl, options: dict[str, Any]) -> Redis:
    sentinel_kwargs: dict[str, Any] = {
        k: v for k, v in options.items() if k.startswith(("socket_", "ssl_"))
    }
    if parsed.tls:
        sentinel_kwargs["ssl"] = True
    if settings.redis_sentinel_username:
        sentinel_kwargs["username"] = settings.redis_sentinel_username
    if settings.redis_sentinel_password:
        sentinel_kwargs["password"] = settings.redis_sentinel_password
    sentinel = Sentinel(parsed.hosts, sentinel_kwargs=sentinel_kwargs)
    master: Redis = sentinel.master_for(parsed.service, ssl=parsed.tls, **options)
    return master


def _redis_secrets(settings: Settings) -> list[str | None]:
    url_password: str | None = None
    with contextlib.suppress(ConfigurationError):
        url_password = _parse_redis_url(settings).options.get("password")
    return [
        url_password,
        settings.redis_password,
        settings.redis_sentinel_password,
        settings.temporal_api_key,
    ]


def _redis_failure(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, RedisAuthenticationError) or "WRONGPASS" in str(exc) or "NOAUTH" in str(exc):
        hint = (
            "the server refused the login: check the user and password (AGENTCHAT_REDIS_URL,"
            " AGENTCHAT_REDIS_USERNAME, AGENTCHAT_REDIS_PASSWORD)"
        )
    elif "SSL" in str(exc) or "certificate" in str(exc).lower():
        hint = (
            "TLS failed: check rediss:// and its ssl_ca_certs, ssl_certfile and ssl_keyfile options"
        )
    elif settings.redis_url.lower().startswith("rediss"):
        # A server that requires client certificates may just drop the connection.
        hint = (
            "is it running, and if it requires a client certificate, do ssl_certfile and"
            " ssl_keyfile in AGENTCHAT_REDIS_URL name one it trusts?"
        )
    else:
        hint = "is it running? (`agentchat dev` starts one; AGENTCHAT_REDIS_URL points elsewhere)"
    detail = scrub(str(exc), _redis_secrets(settings))
    return (
        f"cannot reach Redis at {redact_url(settings.redis_url)} within"
        f" {settings.connect_timeout:g}s: {type(exc).__name__}"
        + (f": {detail}" if detail else "")
        + f" - {hint}"
    )
