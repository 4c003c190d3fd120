"""The processes a chaos scenario kills: its own Temporal dev server, Redis and (when asked)
PostgreSQL, worker subprocesses and gateway subprocesses, each restartable where it was."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from agentchat import Settings
from agentchat.testing.local import (
    free_port,
    start_postgres,
    start_redis,
    start_temporal,
    stop_postgres,
    stop_process,
)
from tests.conftest import (
    GATEWAY_KEY,
    SUGGEST_CAN_AFTER,
    GatewayProcess,
    WorkerProcess,
    agentchat_process,
)

AGENTS = "tests.chaos.agents:agents"


def sigkill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, no warning, and reap it (the servers run in a process group of their own)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class ChaosStack:
    """A Temporal dev server (SQLite) and a Redis server (append-only) under `root`, on
    ports that stay theirs across restarts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.redis_port = free_port()
        self.temporal_port = free_port()
        self.redis_dir = root / "redis"
        self.db = root / "temporal.db"
        self.redis: subprocess.Popen[bytes] | None = None
        self.temporal: subprocess.Popen[bytes] | None = None
        self.database: subprocess.Popen[bytes] | None = None
        self.settings = Settings(
            temporal_address=f"127.0.0.1:{self.temporal_port}",
            redis_url=f"redis://127.0.0.1:{self.redis_port}/0",
            database_url=f"sqlite:///{root.resolve()}/chats.db",
            task_queue=f"chaos-{uuid.uuid4().hex[:10]}",
        )

    def start(self) -> ChaosStack:
        self.root.mkdir(parents=True, exist_ok=True)
        self.start_redis()
        self.start_temporal()
        return self

    def start_redis(self, *, wipe: bool = False) -> None:
        """Start Redis on its port: on its append-only file, or empty (`wipe`)."""
        if wipe:
            shutil.rmtree(self.redis_dir, ignore_errors=True)
        self.redis = start_redis(
            self.redis_port, self.redis_dir, log_file=self.root / "redis.log", timeout=30
        )

    def start_temporal(self) -> None:
        """Start the dev server on its port and its SQLite file (continue-as-new is suggested
        early, as in the rest of the suite, so the chats cross runs under faults too)."""
        self.temporal = start_temporal(
            self.temporal_port,
            self.db,
            extra_args=[
                "--dynamic-config-value",
                f"limit.historyCount.suggestContinueAsNew={SUGGEST_CAN_AFTER}",
            ],
            log_file=self.root / "temporal.log",
        )

    def use_postgres(self) -> None:
        """Keep the chats in a PostgreSQL server of the stack's own (before workers start)."""
        # Not under pytest's tmp dir: as root the server runs as an unprivileged user.
        self.pg_base = Path(tempfile.mkdtemp(prefix="agentchat-chaos-pg-"))
        self.pg_base.chmod(0o711)
        self.pg_port = free_port()
        self.start_database()
        self.settings = dataclasses.replace(
            self.settings,
            database_url=f"postgresql://agentchat@127.0.0.1:{self.pg_port}/agentchat",
        )

    def start_database(self) -> None:
        """Start PostgreSQL on its port and data (after a SIGKILL it recovers from its WAL)."""
        self.database = start_postgres(
            self.pg_base / "data", self.pg_port, log_file=self.pg_base / "log", durable=True
        )

    def kill_database(self) -> None:
        assert self.database is not None
        sigkill(self.database)

    def kill_redis(self) -> None:
        assert self.redis is not None
        sigkill(self.redis)

    def kill_temporal(self) -> None:
        assert self.temporal is not None
        sigkill(self.temporal)

    def stop(self) -> None:
        for process in (self.temporal, self.redis):
            if process is not None:
                stop_process(process)
        if self.database is not None:
            stop_postgres(self.database)
            shutil.rmtree(self.pg_base, ignore_errors=True)


class WorkerPool:
    """`agentchat worker` subprocesses serving the chaos agent on the stack's task queue."""

    def __init__(self, settings: Settings, model_url: str, logs: Path) -> None:
        self.settings = settings
        self.env = {"OPENAI_BASE_URL": model_url, "OPENAI_API_KEY": "chaos"}
        self.logs = logs
        self.live: list[WorkerProcess] = []
        self.started: list[WorkerProcess] = []

    def start(self) -> WorkerProcess:
        log = self.logs / f"worker-{len(self.started)}.log"
        process = agentchat_process(self.settings, ["worker", "--agents", AGENTS], self.env, log)
        worker = WorkerProcess(process, log)
        self.started.append(worker)
        self.live.append(worker)
        return worker

    async def start_ready(self, count: int) -> None:
        started = [self.start() for _ in range(count)]
        await asyncio.gather(*(worker.wait_ready(within=60) for worker in started))

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a worker and start another in its place, so capacity comes back."""
        victim = rng.choice(self.live)
        victim.kill()
        self.live.remove(victim)
        self.start()

    def stop(self) -> None:
        for worker in self.started:
            worker.kill()


class Balancer:
    """Routes each chat to one of the gateways in rotation, as a load balancer whose health
    check has taken a dead replica out does. Chats take turns (not a hash of their id), so
    every replica carries readers of both kinds and any kill hits some of each."""

    def __init__(self) -> None:
        self.live: list[GatewayProcess] = []
        self._slots: dict[str, int] = {}

    def __call__(self, endpoint: str, chat_id: str) -> str:
        return self.url(chat_id)

    def url(self, chat_id: str, shift: int = 0) -> str:
        """The replica of `chat_id` (`shift`: another one, for a second reader)."""
        slot = self._slots.setdefault(chat_id, len(self._slots))
        return self.live[(slot + shift) % len(self.live)].url


class GatewayPool:
    """`agentchat gateway` subprocesses behind a `Balancer`."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.balancer = Balancer()
        self.started: list[GatewayProcess] = []

    async def start_ready(self) -> GatewayProcess:
        port = free_port()
        log = self.logs / f"gateway-{len(self.started)}.log"
        env = {"AGENTCHAT_API_KEYS": GATEWAY_KEY, "AGENTCHAT_TOKEN_SECRET": "t" * 32}
        process = agentchat_process(self.settings, ["gateway", "--port", str(port)], env, log)
        gateway = GatewayProcess(process, port, log)
        self.started.append(gateway)
        await gateway.wait_ready(within=60)
        self.balancer.live.append(gateway)
        return gateway

    async def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a replica its readers are reading through, take it out of rotation, and
        bring a new one in once it is ready."""
        victim = rng.choice(self.balancer.live)
        self.balancer.live.remove(victim)
        victim.kill()
        await self.start_ready()

    def stop(self) -> None:
        for gateway in self.started:
            gateway.kill()
