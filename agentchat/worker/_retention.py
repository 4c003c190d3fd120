"""The retention schedule: a Temporal Schedule in the stack that sweeps expired chats hourly.

It starts `RetentionWorkflow` on the workers' task queue, which deletes every chat whose last
activity is older than its agent's `retention` (or `AGENTCHAT_RETENTION_DAYS`) through the
same steps as `AgentChat.delete()`. Every worker that serves an agent with a policy makes
sure the schedule exists; making it twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from agentchat.agent import Agent
from agentchat.protocol.contracts import RetentionInput
from agentchat.settings import Settings
from agentchat.workflows.delete import RetentionWorkflow

__all__ = ["RETENTION_EVERY", "ensure_retention_schedule", "retention_schedule_id"]

log = logging.getLogger("agentchat.worker")

RETENTION_EVERY = timedelta(hours=1)
"""How often expired chats are swept: a policy is kept to within this much."""


def retention_schedule_id(task_queue: str) -> str:
    return f"agentchat-retention:{task_queue}"


async def ensure_retention_schedule(
    client: Client, agents: Sequence[Agent], settings: Settings
) -> bool:
    """Create the task queue's retention schedule if any policy applies; True if one does."""
    if not settings.retention_days and all(a.retention is None for a in agents):
        return False
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionInput(),
            id=f"agentchat-retention-sweep:{settings.task_queue}",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=RETENTION_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(retention_schedule_id(settings.task_queue), schedule)
        log.info("retention schedule created: a sweep every %s", RETENTION_EVERY)
    except ScheduleAlreadyRunningError:
        pass
    return True
