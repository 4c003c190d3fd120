"""Fixtures: a real Temporal dev server and Redis on free ports, a loopback OpenAI server,
and factories for workers and chats that clean up after themselves."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from agentchat import Agent, AgentChat, Settings
from agentchat.connections import get_redis, get_temporal
from agentchat.stream._store import StreamStore
from agentchat.testing import FakeOpenAIServer
from agentchat.testing.local import LocalStack, free_port, start_redis, stop_process
from agentchat.worker import create_worker
from agentchat.worker._registry import register_agents

ROOT = Path(__file__).resolve().parent.parent

# Continue-as-new is suggested after this many history events (the server default is ~4k),
# so every test exercises it and a burst of messages crosses several runs.
SUGGEST_CAN_AFTER = 150


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(
        data_dir=tmp_path_factory.mktemp("stack"),
        temporal_port=free_port(),
        redis_port=free_port(),
        temporal_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CAN_AFTER}",
        ],
    ).start()
    yield local
    local.stop()


@pytest.fixture
def settings(stack: LocalStack) -> Settings:
    """Connection settings with a task queue of this test's own."""
    return Settings(
        temporal_address=stack.temporal_address,
        redis_url=stack.redis_url,
        database_url=stack.database_url,
        blob_url=stack.blob_url,
        task_queue=f"test-{uuid.uuid4().hex[:10]}",
        shutdown_grace=2,  # in-process workers stop quickly when a test ends mid-step
    )


@pytest.fixture
async def redis(settings: Settings) -> Redis:
    """The test stack's Redis: a single server, never a cluster."""
    client = await get_redis(settings)
    assert isinstance(client, Redis)
    return client


@pytest.fixture
async def store(redis: Redis) -> StreamStore:
    return StreamStore(redis)


@pytest.fixture(scope="session")
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    server = await FakeOpenAIServer().start()
    yield server
    await server.stop()


@pytest.fixture
def model_server(openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The loopback OpenAI server, reset for this test."""
    openai_server.reset()
    return openai_server


class WorkerHandle:
    def __init__(self, task: asyncio.Task[None], worker: Any) -> None:
        self.task = task
        self.worker = worker

    async def stop(self) -> None:
        if not self.task.done():
            await self.worker.shutdown()
            await asyncio.wait_for(self.task, 30)


StartWorker = Callable[..., Awaitable[WorkerHandle]]


@pytest.fixture
async def start_worker(settings: Settings) -> AsyncIterator[StartWorker]:
    """Factory: `await start_worker(agent, ...)` runs an in-process worker until the test ends."""
    handles: list[WorkerHandle] = []
    served: list[Agent] = []

    async def start(*agents: Agent, task_queue: str | None = None) -> WorkerHandle:
        served.extend(agents)
        client = await get_temporal(settings)
        worker = create_worker(
            client,
            StreamStore(await get_redis(settings)),
            agents,
            task_queue=task_queue or settings.task_queue,
            settings=settings,
            workflow_sandbox=True,  # every workflow path the tests take, checked
        )
        # As run_worker does: GET /v1/agents/{agent} describes them.
        await register_agents(await get_redis(settings), agents, task_queue or settings.task_queue)
        task = asyncio.create_task(worker.run())
        handle = WorkerHandle(task, worker)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        await handle.stop()
    for agent in served:
        await agent.aclose()  # as run_worker does: the model's HTTP connections


@pytest.fixture
def new_chat(settings: Settings) -> Callable[..., AgentChat]:
    """Factory: an AgentChat on this test's task queue."""

    def make(agent: str = "echo", id: str | None = None, **kwargs: Any) -> AgentChat:
        return AgentChat(
            agent=agent, id=id or f"chat-{uuid.uuid4().hex[:12]}", settings=settings, **kwargs
        )

    return make


def agentchat_process(
    settings: Settings, args: list[str], env: dict[str, str] | None, log: Path
) -> subprocess.Popen[bytes]:
    """`python -m agentchat <args>` against the test stack, its output in `log`."""
    with open(log, "wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "agentchat", *args],
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "AGENTCHAT_TEMPORAL_ADDRESS": settings.temporal_address,
                "AGENTCHAT_REDIS_URL": settings.redis_url,
                "AGENTCHAT_DATABASE_URL": settings.database_url or "",
                "AGENTCHAT_BLOB_URL": settings.blob_url or "",
                "AGENTCHAT_TASK_QUEUE": settings.task_queue,
                **(env or {}),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class ChildProcess:
    """A server the tests run as a subprocess, so it can get SIGTERM or SIGKILL."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def terminate(self) -> None:
        """SIGTERM: the process drains, then exits."""
        self.process.terminate()

    async def wait_exit(self, within: float) -> int:
        """The exit code, once the process has ended (fails after `within` seconds)."""
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), within)


class WorkerProcess(ChildProcess):
    async def wait_ready(self, within: float = 30) -> None:
        """Until the worker prints that it is ready (it then polls its task queue)."""
        for _ in range(int(within / 0.05)):
            if b"worker ready" in self.log.read_bytes():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"the worker did not get ready: {self.log.read_text()[-2000:]}")


@pytest.fixture
def worker_process(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: a worker in a subprocess (so it can be SIGKILLed) serving tests.agents:all."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        agents: str = "tests.agents:all",
    ) -> WorkerProcess:
        env = {"TOOL_LOG": str(tmp_path / "tool.log"), **(env or {})}
        log_path = tmp_path / f"worker-{len(processes)}.log"
        process = agentchat_process(settings, ["worker", "--agents", agents, *args], env, log_path)
        processes.append(process)
        return WorkerProcess(process, log_path)

    yield start
    for process in processes:
        process.kill()
        process.wait()


@pytest.fixture
def spare_redis() -> Iterator[Callable[[int | None], tuple[int, Callable[[], None]]]]:
    """Factory: a throwaway Redis server (on `port`, or a free one); returns its port and a
    function that kills it."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(port: int | None = None) -> tuple[int, Callable[[], None]]:
        port = port or free_port()
        process = start_redis(port, None)
        processes.append(process)
        return port, lambda: stop_process(process)

    yield start
    for process in processes:
        stop_process(process)


SERVER_FIXTURES = {
    "stack",
    "openai_server",
    "spare_redis",
    "gateway_process",
    "postgres_url",
    "s3_url",
}
"""Fixtures that start a server: a test using any of them (directly or through another
fixture) is an integration test."""
SERVER_FOLDERS = ("cli", "deploy", "gateway")
"""Folders whose tests start processes, browsers or Node of their own."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `scripts/check.sh` runs the rest (-m "not integration") in seconds, with no server.
    for item in items:
        folder = item.path.parent.name
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) or folder in SERVER_FOLDERS:
            item.add_marker(pytest.mark.integration)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-histories",
        action="store_true",
        help="record workflow histories into tests/histories/",
    )


GATEWAY_KEY = "test-key-for-gateway-processes"


class GatewayProcess(ChildProcess):
    """`agentchat gateway` in a subprocess, serving the API key `GATEWAY_KEY`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        super().__init__(process, log)
        self.url = f"http://127.0.0.1:{port}"

    async def wait_ready(self, within: float = 30) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(int(within / 0.1)):
                if self.process.poll() is not None:
                    raise RuntimeError(f"the gateway exited: {self.log.read_text()[-2000:]}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"the gateway did not get ready: {self.log.read_text()[-2000:]}")


@pytest.fixture
def gateway_process(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Factory: a gateway in a subprocess (so it can get SIGTERM or SIGKILL)."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str] | None = None) -> GatewayProcess:
        port = free_port()
        log_path = tmp_path / f"gateway-{len(processes)}.log"
        env = {"AGENTCHAT_API_KEYS": GATEWAY_KEY, "AGENTCHAT_TOKEN_SECRET": "t" * 32, **(env or {})}
        process = agentchat_process(settings, ["-v", "gateway", "--port", str(port)], env, log_path)
        processes.append(process)
        return GatewayProcess(process, port, log_path)

    yield start
    for process in processes:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (Debian's, started with `initdb`) for the session, and the URL
    of a database on it: `postgresql://agentchat@127.0.0.1:<port>/agentchat`."""
    import shutil
    import tempfile

    from agentchat.testing.local import start_postgres, stop_postgres

    # Not under pytest's tmp dir: as root, postgres runs as an unprivileged user, which must
    # be able to reach its data directory (pytest's is private to root).
    base = Path(tempfile.mkdtemp(prefix="agentchat-pg-"))
    base.chmod(0o711)
    port = free_port()
    process = start_postgres(base / "data", port, database="agentchat", log_file=base / "log")
    yield f"postgresql://agentchat@127.0.0.1:{port}/agentchat"
    stop_postgres(process)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh SQLite database file for this test."""
    return f"sqlite:///{tmp_path / 'chats.db'}"


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """An S3-compatible server (moto's, in a subprocess on a loopback port, with the checks of
    presigned requests S3 makes and moto skips: `tests/blobs/s3_server.py`) for the session,
    and the URL of a prefix in a bucket on it: `s3://agentchat-test/blobs`.

    For the session, the environment reaches it: `AWS_ACCESS_KEY_ID`,
    `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `AGENTCHAT_S3_ENDPOINT` are set (processes the
    tests start inherit them), so `open_blob_store(s3_url)` works as it does in production.
    Give each test a prefix of its own (`f"{s3_url}/{uuid}"`) when it counts objects.
    """
    from tests.blobs.s3_server import running_s3_server

    with running_s3_server() as server, pytest.MonkeyPatch.context() as env:
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        for name, value in server.env.items():
            env.setenv(name, value)
        yield server.url
