"""`GET /v1/agents/{agent}`: an agent's public description (inputs, triggers, resources).

Workers write it to Redis when they start (`agentchat/worker/_registry.py`, one hash per task
queue, a field per agent); a page reads it to draw trigger buttons and their forms.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request
from redis.exceptions import RedisError

from agentchat.connections import get_redis
from agentchat.errors import RedisUnavailableError, UnknownAgentError
from agentchat.gateway.auth import CREDENTIALS
from agentchat.gateway.deps import ERROR_RESPONSES, Gw, caller
from agentchat.gateway.problems import ApiError
from agentchat.gateway.schemas import AGENT_PATTERN, AgentView

__all__ = ["registry_key", "router"]

router = APIRouter(responses=ERROR_RESPONSES, dependencies=CREDENTIALS)


def registry_key(task_queue: str) -> str:
    """The hash the workers write (`agentchat.worker._registry.registry_key`, the same key:
    the gateway imports nothing of the worker)."""
    return f"agentchat:agents:{task_queue}"


@router.get("/v1/agents/{agent}", response_model=AgentView, summary="Describe an agent")
async def describe_agent(
    agent: Annotated[str, Path(pattern=AGENT_PATTERN, description="The agent's name.")],
    request: Request,
    gateway: Gw,
) -> AgentView:
    """Its inputs' JSON schema, its triggers (name, description, input schema) and its
    resources (name, description, default), as the workers serving it registered them when
    they started. `404 UnknownAgentError` when no worker registered it. Any credential may
    read it, except a token bound to another agent (`403`)."""
    principal = caller(request)
    principal.check_agent(agent)
    try:
        redis = await get_redis(gateway.settings)
        raw = await redis.hget(registry_key(gateway.settings.task_queue), agent)
    except (RedisError, OSError) as exc:
        raise ApiError(
            503, RedisUnavailableError.__name__, f"the agent registry cannot be read: {exc}"
        ) from None
    if raw is None:
        raise ApiError(
            404,
            UnknownAgentError.__name__,
            f"no agent {agent!r}: no worker serving it has started (on task queue"
            f" {gateway.settings.task_queue!r})",
        )
    return AgentView.model_validate(orjson.loads(raw))
