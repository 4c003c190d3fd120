"""Deleting chats durably: `DeleteChatWorkflow` (one chat, from `AgentChat.delete()`) and
`RetentionWorkflow` (the chats a retention policy expired, run by the worker's schedule).

A deletion is a sequence of idempotent steps, each an activity retried until it is through,
so a crash anywhere finishes the deletion on another worker and running it twice is harmless:

1. mark the chat's row as being deleted: from now on a message to it is refused
   (`ChatDeletingError`) and no run restores it;
2. end its running workflow (terminated: a chat being erased has nothing to finish);
3. the same for the sub-agent chats it owns, found in its row and by their parent;
4. erase the stream keys, then again once a step of the ended run can no longer be writing
   (its heartbeat fails within `STREAM_SETTLE`);
5. erase the rows. From here the chat id is unknown: a later message starts an empty chat.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from agentchat.protocol.contracts import (
        DeleteChatInput,
        DeleteChatResult,
        DeleteStepInput,
        DeleteStepResult,
        RetentionInput,
        RetentionResult,
    )
    from agentchat.protocol.names import DELETE_STEP, FIND_EXPIRED

__all__ = [
    "DeleteChatWorkflow",
    "RetentionWorkflow",
    "delete_workflow_id",
    "erase",
]

STREAM_SETTLE = timedelta(seconds=5)
"""How long a step of a terminated run may still write to the stream: its next heartbeat
finds the run gone and cancels it (heartbeats go out every second)."""

RETENTION_BATCH = 20
"""Chats a retention sweep deletes at once."""

_UNTIL_DONE = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)


def delete_workflow_id(chat_id: str) -> str:
    """The deletion of a chat: one at a time per chat id."""
    return f"delete:{chat_id}"


async def _step(chat_id: str, step: str) -> DeleteStepResult:
    result: DeleteStepResult = await workflow.execute_activity(
        DELETE_STEP,
        DeleteStepInput(chat_id=chat_id, step=step),
        result_type=DeleteStepResult,
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=_UNTIL_DONE,
    )
    return result


async def erase(chat_id: str) -> DeleteChatResult:
    """Delete a chat and the sub-agent chats it owns, everywhere (see the module's steps)."""
    doomed: list[str] = []
    pending = [chat_id]
    existed = False
    while pending:
        current = pending.pop(0)
        if current in doomed:
            continue
        doomed.append(current)
        marked = await _step(current, "mark")
        existed = existed or (current == chat_id and marked.existed)
        await _step(current, "end_run")
        pending.extend(marked.subchats)
    await asyncio.gather(*(_step(c, "stream") for c in doomed))
    await workflow.sleep(STREAM_SETTLE)
    await asyncio.gather(*(_step(c, "stream") for c in doomed))
    await asyncio.gather(*(_step(c, "rows") for c in doomed))
    return DeleteChatResult(chat_id=chat_id, existed=existed, subchats=doomed[1:])


@workflow.defn(name="agentchat.DeleteChat")
class DeleteChatWorkflow:
    """Erase one chat; `AgentChat.delete()` starts it under `delete_workflow_id`."""

    @workflow.run
    async def run(self, input: DeleteChatInput) -> DeleteChatResult:
        return await erase(input.chat_id)


@workflow.defn(name="agentchat.Retention")
class RetentionWorkflow:
    """One sweep of the retention schedule: delete the chats past their policy."""

    @workflow.run
    async def run(self, input: RetentionInput) -> RetentionResult:
        found: RetentionResult = await workflow.execute_activity(
            FIND_EXPIRED,
            input,
            result_type=RetentionResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        chats = found.deleted
        for first in range(0, len(chats), RETENTION_BATCH):
            await asyncio.gather(*(erase(c) for c in chats[first : first + RETENTION_BATCH]))
        if chats:
            workflow.logger.info("retention deleted %d chats", len(chats))
        return found
