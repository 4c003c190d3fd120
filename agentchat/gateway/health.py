"""Liveness and readiness probes for load balancers and orchestrators.

`/healthz` answers while the process can serve at all; `/readyz` only while Redis, Temporal
and the chat store answer and the gateway is not draining. Neither needs credentials (probes
carry none) and neither says more than which part failed: no error text, and no address but
the chat store's URL, passwords hidden (a deployment may point replicas at several
databases; the URL says which one is down).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from agentchat.connections import get_redis, get_store, get_temporal
from agentchat.gateway.deps import Gateway, gateway_of
from agentchat.settings import redact_url

__all__ = ["router"]

log = logging.getLogger("agentchat.gateway")

router = APIRouter(include_in_schema=False)

PROBE_TIMEOUT = 2.0
"""Seconds each dependency gets to answer a readiness probe (probes time out at ~5 s)."""


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up and its event loop turns."""
    return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: not draining, and Redis, Temporal and the chat store answer in time."""
    gateway = gateway_of(request)
    checks = {"gateway": "draining" if gateway.draining else "ok"}
    url = gateway.settings.database_url
    redis_ok, temporal_ok, store_ok = await asyncio.gather(
        _probe(_ping_redis(gateway)),
        _probe(_ping_temporal(gateway)),
        _probe(_ping_store(gateway)) if url else _unconfigured(),
    )
    checks["redis"] = "ok" if redis_ok else "unreachable"
    checks["temporal"] = "ok" if temporal_ok else "unreachable"
    checks["chat_store"] = "ok" if store_ok else "unreachable" if url else "unconfigured"
    ready = redis_ok and temporal_ok and store_ok and not gateway.draining
    body: dict[str, Any] = {"status": "ready" if ready else "unready", "checks": checks}
    if not store_ok:
        body["chat_store"] = (
            f"chat store at {redact_url(url)} does not answer"
            if url
            else "no chat store: set AGENTCHAT_DATABASE_URL"
        )
    return JSONResponse(
        body, status_code=200 if ready else 503, headers={"cache-control": "no-store"}
    )


async def _probe(check: Any) -> bool:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT)
    except Exception as exc:
        # Any failure means "not ready"; the reason goes to the log, not to the prober.
        log.warning("readiness probe failed: %s", type(exc).__name__)
        return False
    return True


async def _ping_redis(gateway: Gateway) -> None:
    redis = await get_redis(gateway.settings)
    await redis.ping()


async def _unconfigured() -> bool:
    return False


async def _ping_store(gateway: Gateway) -> None:
    store = await get_store(gateway.settings, who="the gateway")
    await store.ping()


async def _ping_temporal(gateway: Gateway) -> None:
    client = await get_temporal(gateway.settings)
    await client.service_client.check_health()
