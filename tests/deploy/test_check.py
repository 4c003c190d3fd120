"""`agentchat check` and the gateway's probes, against real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import httpx

from agentchat import Settings
from agentchat.testing.local import free_port
from tests.conftest import ROOT, GatewayProcess, WorkerProcess


async def check(settings: Settings, *args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentchat",
        "check",
        *args,
        cwd=ROOT,
        env={
            **os.environ,
            "AGENTCHAT_TEMPORAL_ADDRESS": settings.temporal_address,
            "AGENTCHAT_REDIS_URL": settings.redis_url,
            "AGENTCHAT_DATABASE_URL": settings.database_url or "",
            "AGENTCHAT_TASK_QUEUE": settings.task_queue,
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


async def test_check_passes_when_every_part_answers(
    settings: Settings,
    worker_process: Callable[..., WorkerProcess],
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    worker = worker_process()
    gateway = gateway_process()
    await asyncio.gather(worker.wait_ready(), gateway.wait_ready())
    code, out = await check(settings, AGENTCHAT_URL=gateway.url)
    assert code == 0, out
    for part in ("temporal", "redis", "worker", "gateway"):
        assert f"ok   {part}" in out, out


async def test_check_names_each_part_that_is_unreachable(settings: Settings) -> None:
    dead = free_port()
    code, out = await check(
        settings,
        AGENTCHAT_REDIS_URL=f"redis://app:hunter2-secret@127.0.0.1:{dead}/0",
        AGENTCHAT_URL=f"http://probe:url-secret@127.0.0.1:{free_port()}",
    )
    assert code == 1
    assert "FAIL redis" in out and "FAIL gateway" in out and "FAIL worker" in out
    assert "ok   temporal" in out
    assert "unreachable: redis, worker, gateway" in out
    assert "hunter2" not in out and "url-secret" not in out

    code, out = await check(settings, "--skip", "worker", "--skip", "redis")
    assert code == 0 and "redis" not in out and "worker" not in out, out

    code, out = await check(
        settings, "--skip", "redis", AGENTCHAT_TEMPORAL_ADDRESS=f"127.0.0.1:{dead}"
    )
    assert code == 1 and "FAIL temporal" in out and f"127.0.0.1:{dead}" in out, out


async def test_gateway_probes(
    settings: Settings, gateway_process: Callable[..., GatewayProcess]
) -> None:
    """`/healthz` is liveness; `/readyz` names the dependency that fails, and nothing more."""
    gateway = gateway_process()
    await gateway.wait_ready()
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.json() == {
            "status": "ready",
            "checks": {"chat_store": "ok", "gateway": "ok", "redis": "ok", "temporal": "ok"},
        }

    broken = gateway_process(
        env={"AGENTCHAT_REDIS_URL": f"redis://:p4ss-secret@127.0.0.1:{free_port()}/0"}
    )
    async with httpx.AsyncClient(base_url=broken.url) as client:
        for _ in range(300):
            try:
                health = await client.get("/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        assert health.status_code == 200  # alive, though not ready
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {
            "chat_store": "ok",
            "gateway": "ok",
            "redis": "unreachable",
            "temporal": "ok",
        }
        assert "p4ss" not in ready.text
