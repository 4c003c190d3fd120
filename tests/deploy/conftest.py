"""Fixtures for secure deployments: a throwaway CA and certificates, Redis servers with TLS,
ACLs, cluster mode and Sentinel, and a TLS-terminating proxy in front of the Temporal dev server.

Every server runs on a free port under the test's tmp dir and is stopped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentchat.errors import ConfigurationError
from agentchat.testing.local import find_redis_server, free_port, stop_process, wait_port

REDIS_PASSWORD = "s3cret-redis-pw-4af1"
SENTINEL_PASSWORD = "s3cret-sentinel-pw-9c2e"
MASTER_NAME = "agentchat-primary"


@pytest.fixture
def clean_connection_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TEMPORAL_* / AGENTCHAT_* variable leaks in from the shell, and no real
    ~/.config/temporalio/temporal.toml is read: the test sets what it needs."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_") or name.startswith("AGENTCHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "no-temporal.toml"))


# -- certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here: verification against it must fail."""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
    _openssl(
        "req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", "2",
        "-subj", f"/CN={name}", "-out", f"{name}.pem", cwd=d,
    )  # fmt: skip


def _make_leaf(d: Path, name: str, ext: str) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
    csr = ("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr")
    _openssl(*csr, cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.pem", cwd=d,
    )  # fmt: skip


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, a server certificate for localhost / 127.0.0.1 and a client certificate."""
    d = tmp_path_factory.mktemp("certs")
    _make_ca(d, "ca")
    _make_ca(d, "other-ca")
    _make_leaf(
        d,
        "server",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    _make_leaf(
        d,
        "client",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n",
    )
    return Certs(
        ca=d / "ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
        other_ca=d / "other-ca.pem",
    )


# -- Redis servers --------------------------------------------------------------------------


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    try:
        wait_port(port, process, "redis-server", 20)
    except ConfigurationError as exc:
        raise RuntimeError(f"{exc}: {log.read_text()[-2000:]}") from None


class RedisServers:
    """Starts redis-server processes with extra arguments; stops them all at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, port: int | None = None, wait_port: int | None = None) -> int:
        port = port or free_port()
        d = self.root / f"redis-{port}"
        d.mkdir()
        log = d / "redis.log"
        process = subprocess.Popen(
            [
                find_redis_server(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(d),
                "--logfile",
                str(log),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        _wait_port(wait_port or port, process, log)
        return port

    def start_conf(self, conf: str, *args: str, port: int) -> None:
        d = self.root / f"conf-{port}"
        d.mkdir()
        path = d / "redis.conf"
        path.write_text(conf + f"\ndir {d}\nlogfile {d / 'redis.log'}\n")
        process = subprocess.Popen(
            [find_redis_server(), str(path), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        _wait_port(port, process, d / "redis.log")

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServers]:
    servers = RedisServers(tmp_path_factory.mktemp("redis"))
    yield servers
    servers.stop()


def _tls_args(certs: Certs, tls_port: int, auth_clients: str) -> tuple[str, ...]:
    return (
        "--tls-port", str(tls_port), "--tls-cert-file", str(certs.server_cert),
        "--tls-key-file", str(certs.server_key), "--tls-ca-cert-file", str(certs.ca),
        "--tls-auth-clients", auth_clients,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_redis_port(redis_servers: RedisServers, certs: Certs) -> int:
    """A Redis that speaks only TLS and does not ask for client certificates."""
    tls_port = free_port()
    redis_servers.start(*_tls_args(certs, tls_port, "no"), port=0, wait_port=tls_port)
    return tls_port


@pytest.fixture(scope="module")
def mtls_redis_port(redis_servers: RedisServers, certs: Certs) -> int:
    """A Redis that speaks only TLS and requires a client certificate signed by the CA."""
    tls_port = free_port()
    redis_servers.start(*_tls_args(certs, tls_port, "yes"), port=0, wait_port=tls_port)
    return tls_port


@pytest.fixture(scope="module")
def acl_redis_port(redis_servers: RedisServers) -> int:
    """A Redis whose only user is `alice` with `REDIS_PASSWORD` (the default user is off)."""
    return redis_servers.start(
        "--user", "default", "off",
        "--user", "alice", "on", f">{REDIS_PASSWORD}", "~*", "&*", "+@all",
    )  # fmt: skip


def _cluster_ok(port: int) -> bool:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True
    ).stdout
    return "cluster_state:ok" in out


@pytest.fixture(scope="module")
def cluster_redis_port(
    redis_servers: RedisServers, tmp_path_factory: pytest.TempPathFactory
) -> int:
    """A one-node Redis Cluster owning every slot (it still refuses CROSSSLOT commands)."""
    nodes = tmp_path_factory.mktemp("cluster") / "nodes.conf"
    port = redis_servers.start(
        "--cluster-enabled", "yes", "--cluster-config-file", str(nodes),
        "--cluster-node-timeout", "2000",
        # The bus defaults to port + 10000, out of range for high ephemeral ports.
        "--cluster-port", str(free_port()),
    )  # fmt: skip
    subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "addslotsrange", "0", "16383"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 20
    while not _cluster_ok(port):
        if time.monotonic() > deadline:
            raise RuntimeError("the one-node cluster did not reach cluster_state:ok")
        time.sleep(0.1)
    return port


@dataclass(frozen=True)
class SentinelSetup:
    master_port: int
    sentinel_port: int


@pytest.fixture(scope="module")
def sentinel_setup(redis_servers: RedisServers) -> SentinelSetup:
    """A password-protected master watched by one password-protected Sentinel."""
    master_port = redis_servers.start("--requirepass", REDIS_PASSWORD)
    sentinel_port = free_port()
    redis_servers.start_conf(
        f"port {sentinel_port}\nbind 127.0.0.1\nrequirepass {SENTINEL_PASSWORD}\n"
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 1\n"
        f"sentinel auth-pass {MASTER_NAME} {REDIS_PASSWORD}\n"
        f"sentinel down-after-milliseconds {MASTER_NAME} 5000\n",
        "--sentinel",
        port=sentinel_port,
    )
    return SentinelSetup(master_port, sentinel_port)


# -- Temporal behind TLS --------------------------------------------------------------------


@dataclass
class TlsProxy:
    port: int
    connections: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def tls_proxy(
    certs: Certs, upstream_port: int, *, require_client_cert: bool
) -> AsyncIterator[TlsProxy]:
    """Terminate TLS (ALPN h2, optionally mTLS) and forward the bytes to a plain gRPC server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    context.set_alpn_protocols(["h2"])
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs.ca)
    proxy = TlsProxy(port=0)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(handle(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
