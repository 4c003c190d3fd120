"""Process-wide Temporal clients and Redis pools, shared by every `AgentChat` and worker.

A webhook server handling many chats must not reconnect per request: connections are cached
per event loop and per target, and created with short timeouts so an unreachable service
gives a clear error within seconds instead of a hang.

Temporal is configured the way every Temporal SDK and the `temporal` CLI are (`TEMPORAL_*`
variables and the TOML profile of `temporalio.envconfig`), with `Settings` fields and
`AGENTCHAT_TEMPORAL_ADDRESS` / `AGENTCHAT_TEMPORAL_NAMESPACE` on top. Redis takes one URL:
`redis://`, `rediss://` (TLS), `unix://`, `redis[s]+cluster://` and `redis[s]+sentinel://`.

Secrets (API keys, passwords, private keys) never reach a repr, a log line or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError as RedisAuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS
from temporalio.service import RPCError, TLSConfig

from agentchat.errors import ConfigurationError, RedisUnavailableError, TemporalUnavailableError
from agentchat.settings import Settings, redact_url
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

RedisClient: TypeAlias = Redis | RedisCluster
"""What `get_redis` returns: a plain or Sentinel-managed `Redis`, or a `RedisCluster`."""

_temporal: dict[tuple[int, str], asyncio.Future[Client]] = {}
_redis: dict[tuple[int, str], RedisClient] = {}

_DEFAULT_ADDRESS = "localhost:7233"
_DEFAULT_NAMESPACE = "default"


def _loop_id() -> int:
    return id(asyncio.get_running_loop())


def _fingerprint(*parts: object) -> str:
    # Cache keys must tell credentials apart without holding them in plain text.
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _scrub(text: str, secrets: Sequence[str | None]) -> str:
    # Very short secrets would only match by coincidence and mangle the text.
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


# -- Temporal -------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TemporalTarget:
    """Where and how to reach Temporal, resolved from `Settings` and the standard config."""

    address: str
    namespace: str
    api_key: str | None = None
    tls: bool | TLSConfig = False
    rpc_metadata: Mapping[str, str] = field(default_factory=dict)
    """gRPC headers from the profile (may carry credentials)."""

    @property
    def security(self) -> str:
        """How the connection is secured, for messages: e.g. `TLS, client certificate, API key`."""
        parts = ["TLS" if self.tls else "no TLS"]
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            parts.append("client certificate")
        if self.api_key:
            parts.append("API key")
        return ", ".join(parts)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `temporalio.client.Client.connect`."""
        return {
            "target_host": self.address,
            "namespace": self.namespace,
            "api_key": self.api_key,
            "tls": self.tls,
            "rpc_metadata": dict(self.rpc_metadata),
        }

    def cache_key(self) -> str:
        tls = self.tls
        if isinstance(tls, TLSConfig):
            tls_parts: object = (
                tls.domain,
                tls.server_root_ca_cert,
                tls.client_cert,
                tls.client_private_key,
            )
        else:
            tls_parts = tls
        return _fingerprint(
            self.address, self.namespace, self.api_key, tls_parts, sorted(self.rpc_metadata.items())
        )

    def __repr__(self) -> str:
        return (
            f"TemporalTarget(address={self.address!r}, namespace={self.namespace!r},"
            f" security={self.security!r})"
        )


_TLS_FLAGS = {"true": False, "1": False, "false": True, "0": True}  # value -> "disabled"


def temporal_target(settings: Settings) -> TemporalTarget:
    """Resolve where and how to connect to Temporal.

    Precedence, highest first: explicit `Settings` fields (and `AGENTCHAT_TEMPORAL_ADDRESS`,
    `AGENTCHAT_TEMPORAL_NAMESPACE`); the standard `TEMPORAL_*` environment variables; the
    profile in the Temporal TOML config file; `localhost:7233` and namespace `default`.
    An API key turns TLS on unless TLS is explicitly disabled.

    Raises:
        ConfigurationError: A setting is malformed or a certificate file cannot be read; the
            message names the variable or field to fix.
    """
    # Cached, as it runs for every `get_temporal` call and reads certificate files: keyed by
    # the settings and every variable that can change the answer.
    watched = tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith(("TEMPORAL_", "AGENTCHAT_TEMPORAL_")) or k in _CONFIG_HOME_VARS
        )
    )
    return _temporal_target(settings, watched)


_CONFIG_HOME_VARS = frozenset({"HOME", "XDG_CONFIG_HOME", "APPDATA"})


@functools.lru_cache(maxsize=64)
def _temporal_target(settings: Settings, _watched: tuple[tuple[str, str], ...]) -> TemporalTarget:
    # Empty variables count as unset, as for every AGENTCHAT_* one (envconfig would otherwise
    # read TEMPORAL_TLS= as "TLS configured" and turn it on).
    env = {k: v for k, v in os.environ.items() if v.strip()}
    tls_flag = env.get("TEMPORAL_TLS")
    if tls_flag is not None and tls_flag.strip().lower() not in _TLS_FLAGS:
        raise ConfigurationError(f"TEMPORAL_TLS must be true or false, not {tls_flag!r}")
    try:
        profile = ClientConfigProfile.load(
            settings.temporal_profile,
            config_source=Path(settings.temporal_config_file)
            if settings.temporal_config_file
            else None,
            override_env_vars=env,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        detail = _scrub(str(exc), [settings.temporal_api_key, env.get("TEMPORAL_API_KEY")])
        raise ConfigurationError(
            "cannot load the Temporal client configuration (TEMPORAL_CONFIG_FILE,"
            f" TEMPORAL_PROFILE): {detail}"
        ) from None

    # Settings fields always hold a value; only a non-default (or AGENTCHAT_*-set) one is an
    # explicit choice that beats TEMPORAL_ADDRESS / the profile.
    address = settings.temporal_address
    if address == _DEFAULT_ADDRESS and "AGENTCHAT_TEMPORAL_ADDRESS" not in env:
        address = profile.address or address
    namespace = settings.temporal_namespace
    if namespace == _DEFAULT_NAMESPACE and "AGENTCHAT_TEMPORAL_NAMESPACE" not in env:
        namespace = profile.namespace or namespace
    api_key = settings.temporal_api_key or profile.api_key or None
    return TemporalTarget(
        address=address,
        namespace=namespace,
        api_key=api_key,
        tls=_temporal_tls(settings, profile.tls, env, api_key is not None),
        rpc_metadata=dict(profile.grpc_meta),
    )


def _temporal_tls(
    settings: Settings, base: ClientConfigTLS | None, env: Mapping[str, str], has_api_key: bool
) -> bool | TLSConfig:
    loaded = base or ClientConfigTLS()
    disabled = loaded.disabled if settings.temporal_tls is None else not settings.temporal_tls
    if disabled:
        return False
    ca = _tls_file(
        "server CA certificate",
        settings.temporal_tls_server_ca_cert_path,
        loaded.server_root_ca_cert,
        "temporal_tls_server_ca_cert_path",
        "TEMPORAL_TLS_SERVER_CA_CERT",
        env,
    )
    cert = _tls_file(
        "client certificate",
        settings.temporal_tls_client_cert_path,
        loaded.client_cert,
        "temporal_tls_client_cert_path",
        "TEMPORAL_TLS_CLIENT_CERT",
        env,
    )
    key = _tls_file(
        "client private key",
        settings.temporal_tls_client_key_path,
        loaded.client_private_key,
        "temporal_tls_client_key_path",
        "TEMPORAL_TLS_CLIENT_KEY",
        env,
    )
    if (cert is None) != (key is None):
        given, missing = ("CERT", "KEY") if key is None else ("KEY", "CERT")
        raise ConfigurationError(
            "Temporal mTLS needs both a client certificate and its key:"
            f" TEMPORAL_TLS_CLIENT_{given}_PATH is set but TEMPORAL_TLS_CLIENT_{missing}_PATH"
            " is not"
        )
    server_name = settings.temporal_tls_server_name or loaded.server_name
    if ca or cert or server_name:
        return TLSConfig(
            server_root_ca_cert=ca, domain=server_name, client_cert=cert, client_private_key=key
        )
    # TLS with the system's roots: asked for, or implied by an API key (Temporal Cloud).
    return base is not None or settings.temporal_tls is True or has_api_key


def _tls_file(
    what: str,
    path: str | None,
    loaded: Path | str | bytes | None,
    field_name: str,
    env_prefix: str,
    env: Mapping[str, str],
) -> bytes | None:
    if path is not None:
        source: Path | str | bytes | None = Path(path)
        origin = f"Settings.{field_name}"
    else:
        source = loaded
        origin = next(
            (name for name in (f"{env_prefix}_PATH", f"{env_prefix}_DATA") if name in env),
            "the Temporal config file's profile",
        )
    if source is None:
        return None
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the Temporal TLS {what} {str(source)!r} (from {origin}):"
                f" {exc.strerror or type(exc).__name__}"
            ) from None
    else:
        data = source.encode() if isinstance(source, str) else source
    if b"-----BEGIN" not in data:
        # Never quote the content: it may be a private key.
        raise ConfigurationError(f"the Temporal TLS {what} from {origin} is not PEM")
    return data


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
    future = _temporal.get(key)
    if future is None or (future.done() and future.exception() is not None):
        future = asyncio.get_running_loop().create_future()
        _temporal[key] = future
        try:
            client = await asyncio.wait_for(
                Client.connect(
                    **target.connect_kwargs(),
                    data_converter=pydantic_data_converter,
                    interceptors=client_interceptors(),
                ),
                settings.connect_timeout,
            )
        except (TimeoutError, RPCError, RuntimeError, OSError) as exc:
            detail = _scrub(str(exc), [target.api_key, *target.rpc_metadata.values()])
            error = TemporalUnavailableError(
                f"cannot reach Temporal at {target.address} (namespace {target.namespace!r},"
                f" {target.security}) within {settings.connect_timeout:g}s:"
                f" {type(exc).__name__}: {detail}"
                " - is the server running, and are its address, TLS settings and credentials"
                " right? (`agentchat dev` starts one; AGENTCHAT_TEMPORAL_ADDRESS or"
                " TEMPORAL_ADDRESS points elsewhere, TEMPORAL_TLS_* and TEMPORAL_API_KEY"
                " secure it)"
            )
            future.set_exception(error)
            future.exception()  # mark retrieved
            del _temporal[key]
            raise error from None
        log.info(
            "connected to Temporal at %s (namespace %s, %s)",
            target.address,
            target.namespace,
            target.security,
        )
        future.set_result(client)
        return client
    return await future


# -- Redis ----------------------------------------------------------------------------------

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
        return Redis.from_pool(ConnectionPool(**options))
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
    sentinel = Sentinel(parsed.hosts, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
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
        _fingerprint(
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
    detail = _scrub(str(exc), _redis_secrets(settings))
    return (
        f"cannot reach Redis at {redact_url(settings.redis_url)} within"
        f" {settings.connect_timeout:g}s: {type(exc).__name__}"
        + (f": {detail}" if detail else "")
        + f" - {hint}"
    )
