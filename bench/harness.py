"""What every benchmark needs: a stack, a model server process, worker processes, statistics."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentchat import Settings
from agentchat.testing.local import LocalStack, free_port

ROOT = Path(__file__).resolve().parent.parent
IDLE_TTL = 20
"""The benchmark workers' idle stream TTL (the default is 600 s), so the idle benchmark can
show what an idle chat costs once it has expired without waiting ten minutes."""


def direct_client(base_url: str) -> Any:
    """The baseline's `openai` client: the SDK on the transport the worker uses (aiohttp)."""
    import openai

    from agentchat.models.openai import _http_client

    return openai.AsyncOpenAI(
        base_url=base_url, api_key="x", max_retries=0, http_client=_http_client(openai)
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """n, p50, p95, p99 (in ms by default) of `values` given in seconds."""
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    return {
        "n": len(values),
        "p50_ms": statistics.median(values) * scale,
        "p95_ms": pct(values, 0.95) * scale,
        "p99_ms": pct(values, 0.99) * scale,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Harness:
    """A Temporal + Redis stack (own, or from AGENTCHAT_*), a model server and workers."""

    settings: Settings
    stack: LocalStack | None = None
    model_port: int = 0
    model: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls) -> Harness:
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        if "AGENTCHAT_TEMPORAL_ADDRESS" in os.environ:
            harness = cls(Settings(task_queue=queue))
        else:
            stack = LocalStack(temporal_port=free_port(), redis_port=free_port()).start()
            settings = Settings(
                temporal_address=stack.temporal_address,
                redis_url=stack.redis_url,
                database_url=stack.database_url,
                task_queue=queue,
            )
            harness = cls(settings, stack)
        harness.model_port = free_port()
        harness.model = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentchat.testing.openai_server",
                "--stamp",
                "--port",
                str(harness.model_port),
            ],
            stdout=subprocess.DEVNULL,
        )
        harness.start_worker()
        return harness

    @property
    def model_url(self) -> str:
        return f"http://127.0.0.1:{self.model_port}/v1"

    def start_worker(
        self,
        model_url: str | None = None,
        task_queue: str | None = None,
        stdout: int = subprocess.DEVNULL,
        bytecode_cache: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """A worker process serving `bench.agents`; with `stdout=subprocess.PIPE` its
        "worker ready" line can be read (the output is unbuffered). With `bytecode_cache` it
        keeps compiled modules there (`PYTHONPYCACHEPREFIX`) even where the environment says
        `PYTHONDONTWRITEBYTECODE`, as an image built with compiled bytecode starts."""
        env = {**os.environ}
        if bytecode_cache is not None:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
        worker = subprocess.Popen(
            [sys.executable, "-m", "agentchat", "worker", "--agents", "bench.agents:agents"],
            cwd=ROOT,
            env={
                **env,
                "PYTHONPATH": str(ROOT),
                "OPENAI_BASE_URL": model_url or self.model_url,
                "OPENAI_API_KEY": "unused",
                "AGENTCHAT_TEMPORAL_ADDRESS": self.settings.temporal_address,
                "AGENTCHAT_REDIS_URL": self.settings.redis_url,
                "AGENTCHAT_DATABASE_URL": self.settings.database_url or "",
                "AGENTCHAT_TASK_QUEUE": task_queue or self.settings.task_queue,
                "AGENTCHAT_STREAM_IDLE_TTL": str(IDLE_TTL),
                "PYTHONUNBUFFERED": "1",
                **(extra_env or {}),
            },
            stdout=stdout,
        )
        self.workers.append(worker)
        return worker

    @property
    def worker(self) -> subprocess.Popen[bytes]:
        return self.workers[-1]

    def kill_worker(self) -> None:
        self.worker.kill()
        self.worker.wait()

    def stop_worker(self) -> None:
        """SIGTERM: the worker drains and lets go of its chats' sticky queues."""
        self.worker.terminate()
        self.worker.wait(60)

    def stop(self) -> None:
        for process in [*self.workers, self.model]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        if self.stack is not None:
            self.stack.stop()
