"""The agent registry: what clients may know of the agents a worker serves.

Each worker writes every agent it serves, when it starts, to one Redis hash per task queue
(`agentchat:agents:<task queue>`, a field per agent, its public description as JSON):
the agent's name, the JSON schema of its inputs, its triggers (name, description, input
schema) and its resources (name, description, default). The gateway answers
`GET /v1/agents/{agent}` from it. Writing is idempotent: a worker that starts again
overwrites its agents' fields; agents no worker serves any longer stay until overwritten.
Instructions, tools and models are not in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

if TYPE_CHECKING:
    from agentchat.agent import Agent

__all__ = ["describe_agent", "register_agents", "registry_key"]


def registry_key(task_queue: str) -> str:
    """The Redis hash holding the descriptions of the agents served on `task_queue` (the
    gateway, which imports nothing of the worker, reads the same key: `gateway/agents.py`)."""
    return f"agentchat:agents:{task_queue}"


def describe_agent(agent: Agent) -> dict[str, Any]:
    """The agent's public description (JSON-able): name, inputs, triggers, resources."""
    inputs = agent.inputs.model_json_schema() if agent.inputs is not None else None
    triggers = []
    for trigger in agent.triggers:
        spec = trigger.spec()
        triggers.append(
            {
                "name": spec.name,
                "description": trigger.description,
                "input_schema": spec.input_schema,
            }
        )
    resources = [
        {"name": r.name, "description": r.description, "default": r.default}
        for r in agent.resources
    ]
    return {"name": agent.name, "inputs": inputs, "triggers": triggers, "resources": resources}


async def register_agents(
    redis: Redis | RedisCluster, agents: Sequence[Agent], task_queue: str
) -> None:
    """Write (overwrite) the descriptions of `agents` served on `task_queue`."""
    if not agents:
        return
    mapping = {agent.name: orjson.dumps(describe_agent(agent)) for agent in agents}
    await redis.hset(registry_key(task_queue), mapping=mapping)  # type: ignore[arg-type]
