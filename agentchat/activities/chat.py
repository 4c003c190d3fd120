"""`ChatActivities`: the activity implementations a worker registers."""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from agentchat import metrics
from agentchat.activities.context import run_compaction, run_title
from agentchat.activities.llm import run_llm_step
from agentchat.activities.observe import TurnTracker
from agentchat.activities.prefetch import StepPrefetch
from agentchat.activities.store import StoreActivities
from agentchat.activities.tools import run_tool_call
from agentchat.activities.transcripts import TranscriptCache
from agentchat.agent import Agent, PreloadContext
from agentchat.errors import UnknownAgentError
from agentchat.logs import log_context
from agentchat.protocol import envelope
from agentchat.protocol.contracts import (
    CloseChatsInput,
    CompactInput,
    CompactResult,
    OpenChatInput,
    OpenChatResult,
    PreloadHookInput,
    PreloadHookResult,
    PublishInput,
    StepInput,
    StepResult,
    TitleInput,
    TitleResult,
    ToolCallInput,
    ToolOutcome,
    TurnEndInput,
    TurnStartInput,
    TurnStopInput,
)
from agentchat.protocol.names import (
    CLOSE_CHATS,
    COMPACT,
    FLAG_STOP,
    LLM_STEP,
    OPEN_CHAT,
    PUBLISH,
    RUN_PRELOAD,
    TITLE,
    TOOL_CALL,
    TURN_END,
    TURN_START,
)
from agentchat.settings import Settings
from agentchat.stream._store import StreamStore, StreamWriter

__all__ = ["ChatActivities"]

log = logging.getLogger("agentchat.activities")


def _usage_metadata(req: TurnEndInput) -> dict[str, Any]:
    """The turn's `messageMetadata`: its usage and the chat's, as the AI SDK names them."""
    metadata: dict[str, Any] = {}
    if req.usage is not None:
        metadata["usage"] = req.usage.wire()
    if req.chat_usage is not None:
        metadata["chatUsage"] = req.chat_usage.wire()
    return metadata


class ChatActivities:
    """Activities bound to one worker's Redis store, Temporal client and agents."""

    def __init__(
        self,
        store: StreamStore,
        client: Client,
        agents: list[Agent],
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.agents = {a.name: a for a in agents}
        self.settings = settings or Settings()
        self.transcripts = TranscriptCache()
        self.turns = TurnTracker(list(self.agents))
        self.prefetch = StepPrefetch(self.agents, self.transcripts)
        self.stored = StoreActivities(store, client, agents, self.settings)

    def all(self) -> list[Any]:
        return [
            self.open_chat,
            self.turn_start,
            self.turn_end,
            self.run_preload,
            self.llm_step,
            self.flag_stop,
            self.tool_call,
            self.publish,
            self.close_chats,
            self.compact,
            self.title,
            *self.stored.all(),
        ]

    def _agent(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is None:
            raise ApplicationError(
                f"unknown agent {name!r}: this worker serves {sorted(self.agents)}",
                type=UnknownAgentError.__name__,
                non_retryable=True,
            )
        return agent

    @activity.defn(name=OPEN_CHAT)
    async def open_chat(self, req: OpenChatInput) -> OpenChatResult:
        """Look up the agent, record the chat in the store and, for a chat whose earlier run
        ended, continue from its stored conversation."""
        agent = self.agents.get(req.agent)
        if agent is None:
            return OpenChatResult(spec=None)
        self.turns.saw_chat(req.chat_id, req.agent)
        with log_context(chat_id=req.chat_id):
            opened = await self.stored.open(req)
        update: dict[str, Any] = {"spec": agent.spec()}
        # Inputs are checked for a chat's first run only: a restored chat keeps its own.
        kept = opened.restored is not None and bool(opened.restored.inputs)
        if not kept and req.inputs is not None:  # None: a continued run, state carried
            try:
                update["inputs"] = agent.validate_inputs(req.inputs)
            except ValueError as exc:
                update["inputs_error"] = str(exc)
        return opened.model_copy(update=update)

    @activity.defn(name=TURN_START)
    async def turn_start(self, req: TurnStartInput) -> str:
        with log_context(chat_id=req.chat_id, turn=req.turn):
            return await self._turn_start(req)

    async def _turn_start(self, req: TurnStartInput) -> str:
        attempt = activity.info().attempt
        # The input names no agent (it is workflow contract); the tracker learnt it when this
        # worker opened the chat, else the turn is labelled `unknown`.
        self.turns.started(req.chat_id, req.turn, None, attempt)
        writer = StreamWriter(
            self.store,
            req.chat_id,
            producer=f"t{req.turn}.start",
            attempt=attempt,
            turn=req.turn,
        )
        writer.open_turn(req.message_id, req.user_message_id, req.trigger)
        if not await writer.flush():
            raise ApplicationError("stream write failed; retrying")
        log.debug("turn %d started", req.turn)
        return writer.last_id or ""

    @activity.defn(name=TURN_END)
    async def turn_end(self, req: TurnEndInput) -> str:
        with log_context(chat_id=req.chat_id, turn=req.turn):
            return await self._turn_end(req)

    async def _turn_end(self, req: TurnEndInput) -> str:
        writer = StreamWriter(
            self.store,
            req.chat_id,
            producer=f"t{req.turn}.end",
            attempt=activity.info().attempt,
            turn=req.turn,
            role="end",
        )
        metadata = _usage_metadata(req)
        if req.status == "completed":
            finish: dict[str, Any] = {"type": "finish", "finishReason": req.finish_reason or "stop"}
            if metadata:
                finish["messageMetadata"] = metadata
            writer.chunk(finish)
        else:
            # No finish chunk to carry the usage: a chunk of its own, when the turn used any.
            if metadata and req.usage is not None and req.usage.calls:
                writer.chunk({"type": "message-metadata", "messageMetadata": metadata})
            if req.status == "stopped":
                writer.chunk({"type": "abort", "reason": "stopped"})
            else:
                writer.chunk({"type": "error", "errorText": req.error_text or "turn failed"})
        marks = {p: m.model_dump(exclude_none=True) for p, m in req.marks.items()}
        extra: dict[str, Any] = {envelope.MARKS: marks} if marks else {}
        if req.error_type:
            extra["errorType"] = req.error_type
        if req.budget:
            extra["budget"] = req.budget
        writer.control(
            envelope.TURN_END,
            status=req.status,
            finishReason=req.finish_reason,
            error=req.error_text,
            **extra,
        )
        if not await writer.flush():
            raise ApplicationError("stream write failed; retrying")
        await self._turn_finished(req, writer.last_id)
        log.debug("turn %d %s", req.turn, req.status)
        return writer.last_id or ""

    async def _turn_finished(self, req: TurnEndInput, end_id: str | None) -> None:
        if not metrics.enabled():
            return
        try:
            start_id = await self.store.turn_start(req.chat_id, req.turn)
        except Exception as exc:  # metrics must never fail a turn
            log.debug("chat %s: no turn start for metrics: %s", req.chat_id, exc)
            start_id = None
        self.turns.finished(req.chat_id, req.status, start_id, end_id)

    @activity.defn(name=FLAG_STOP)
    async def flag_stop(self, req: TurnStopInput) -> None:
        """Set the stop flag the running step polls, for stops that did not come through Redis
        (an `interrupt` by a newer message, or a client that could not reach Redis)."""
        try:
            await self.store.flag_stop(req.chat_id, req.turn)
        except Exception as exc:
            with log_context(chat_id=req.chat_id, turn=req.turn):
                log.warning(
                    "chat %s: cannot flag stop in Redis: %s", req.chat_id, type(exc).__name__
                )

    @activity.defn(name=RUN_PRELOAD)
    async def run_preload(self, req: PreloadHookInput) -> PreloadHookResult:
        agent = self._agent(req.agent)
        if agent.preload is None:
            return PreloadHookResult()
        self.turns.saw_chat(req.chat_id, req.agent)
        with log_context(chat_id=req.chat_id):
            context = await agent.preload(PreloadContext(req.chat_id, req.agent, req.client_data))
        return PreloadHookResult(context=context)

    @activity.defn(name=LLM_STEP)
    async def llm_step(self, req: StepInput) -> StepResult:
        with log_context(chat_id=req.chat_id, turn=req.turn):
            return await run_llm_step(
                self.store,
                self._agent(req.agent),
                req,
                self.transcripts,
                self.turns,
                self.prefetch,
                self.settings,
            )

    @activity.defn(name=COMPACT)
    async def compact(self, req: CompactInput) -> CompactResult:
        """Summarise the start of a chat's window (see `agentchat.activities.context`)."""
        self.turns.saw_chat(req.chat_id, req.agent)
        with log_context(chat_id=req.chat_id, turn=req.turn):
            return await run_compaction(self.store, self._agent(req.agent), req, self.transcripts)

    @activity.defn(name=TITLE)
    async def title(self, req: TitleInput) -> TitleResult:
        """Generate, store and stream the chat's title after its first turn."""
        with log_context(chat_id=req.chat_id, turn=req.turn):
            return await run_title(self.store, self._agent(req.agent), req, self.settings)

    @activity.defn(name=TOOL_CALL)
    async def tool_call(self, req: ToolCallInput) -> ToolOutcome:
        self.turns.saw_chat(req.chat_id, req.agent)
        with log_context(chat_id=req.chat_id, turn=req.turn):
            return await run_tool_call(self.store, self._agent(req.agent), req, self.settings)

    @activity.defn(name=PUBLISH)
    async def publish(self, req: PublishInput) -> None:
        writer = StreamWriter(
            self.store,
            req.chat_id,
            producer=req.producer,
            attempt=activity.info().attempt,
            turn=req.turn,
        )
        for chunk in req.chunks:
            writer.chunk(chunk)
        with log_context(chat_id=req.chat_id, turn=req.turn):
            if not await writer.flush():
                raise ApplicationError("stream write failed; retrying")

    @activity.defn(name=CLOSE_CHATS)
    async def close_chats(self, req: CloseChatsInput) -> None:
        from agentchat.client import AgentChat

        for chat_id in req.chat_ids:
            await AgentChat(agent=req.agent, id=chat_id, settings=self.settings).close()
