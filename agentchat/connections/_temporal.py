"""Where and how to reach Temporal: `Settings` plus the standard Temporal config, resolved.

Temporal is configured the way every Temporal SDK and the `temporal` CLI are (`TEMPORAL_*`
variables and the TOML profile of `temporalio.envconfig`), with `Settings` fields and
`AGENTCHAT_TEMPORAL_ADDRESS` / `AGENTCHAT_TEMPORAL_NAMESPACE` on top. This module only turns
that into `temporalio.client.Client.connect` arguments (no I/O beyond reading certificate
files); `agentchat.connections` connects and caches the clients.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS
from temporalio.service import TLSConfig

from agentchat.connections._redaction import fingerprint, scrub
from agentchat.errors import ConfigurationError
from agentchat.settings import Settings

__all__ = ["TemporalTarget", "temporal_target"]

_DEFAULT_ADDRESS = "localhost:7233"
_DEFAULT_NAMESPACE = "default"


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
        return fingerprint(
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
        detail = scrub(str(exc), [settings.temporal_api_key, env.get("TEMPORAL_API_KEY")])
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
