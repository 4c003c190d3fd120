"""Model requests sent while Temporal records the step that makes them.

An LLM step's activity starts only once the workflow task that schedules it has completed:
the worker sends its commands, Temporal persists them and hands the activity back (eager
dispatch). Every step paid that round trip (~4 ms on the dev server, a network round trip
and a write on a cluster) before its model request was even sent. Now, as soon as workflow
code schedules a step, the worker sends the step's model request itself, and the activity,
when it starts, takes over the stream already under way: the model's time to first token
overlaps Temporal's bookkeeping.

Only a step's first attempt takes over a stream, only on the worker that began it, and only
for exactly the input it was begun with; a stream nobody claims within `ttl` is closed.
Nothing is written before the activity starts, so durability is unchanged. A request begun
for a step that then runs elsewhere is a prompt paid twice, so a worker prefetches only while
its steps keep coming back to it: while at least `min_hit_rate` of its recent steps started
on it within `ttl` (it keeps counting while it does not prefetch, and counts a step either
way only once its `ttl` is over, so a run of early hits cannot outvote misses yet to show).
That holds with eager dispatch, which needs the activities on the workflows' task queue (as
`create_worker` does) and the server's `system.enableActivityEagerExecution`.

The activity reads the stream on from another task than the one that began it, so only
models that allow that are prefetched: those with `prefetchable = True` (see `Model`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from agentchat import metrics
from agentchat.activities.transcripts import TranscriptCache
from agentchat.agent import Agent, ChatContext
from agentchat.models import Model, ModelRequest
from agentchat.models.base import ModelEvent, ToolDefinition
from agentchat.protocol.contracts import StepInput
from agentchat.protocol.files import has_files
from agentchat.protocol.messages import UIMessage
from agentchat.protocol.names import LLM_STEP

__all__ = [
    "PrefetchInterceptor",
    "Prefetched",
    "StepPrefetch",
    "chat_context",
    "model_request",
    "step_request",
]

log = logging.getLogger("agentchat.activities")

StepKey = tuple[str, int, int, str, int]

START_DELAY = 0.001
"""Seconds between a step's scheduling and its request, so that the workflow task's completion
usually goes out first. The SDK builds a request on the event loop for ~1.5 ms, which, begun
at once, delayed the completion (and so the activity) by as much as the overlap gained."""


SUMMARY_HEADING = (
    "Summary of the earlier part of this conversation (its messages are not repeated):"
)
"""What precedes a compacted chat's summary in the system prompt."""


def step_key(step: StepInput) -> StepKey:
    """Which step this is: one key per attempt series (a resend has a new `attempt_base`)."""
    return (step.chat_id, step.turn, step.step, step.message_id, step.attempt_base)


def model_request(
    agent: Agent, step: StepInput, transcript: list[UIMessage], instructions: str | None = None
) -> ModelRequest:
    """What `agent`'s model is asked in `step`, given the step's whole transcript.

    `instructions` is what the agent's instructions function returned for this step (see
    `step_request`); string instructions are rendered here.
    """
    if step.thread is not None:  # a named thread: its own prompt and tools, none of main's
        allowed = step.tools or []
        tools = [
            ToolDefinition(t.name, t.description, t.parameters)
            for t in agent.tools
            if t.name in allowed
        ]
        return ModelRequest(step.thread_instructions or None, transcript, step.client_data, tools)
    if not agent.has_dynamic_instructions:
        instructions = agent.render_instructions(step.inputs, step.resources)
    if step.preload_context:
        instructions = (
            f"{instructions}\n\n{step.preload_context}" if instructions else step.preload_context
        )
    if step.summary:  # compacted: the summary stands for the messages before the window
        summary = f"{SUMMARY_HEADING}\n\n{step.summary}"
        instructions = f"{instructions}\n\n{summary}" if instructions else summary
    tools = [ToolDefinition(t.name, t.description, t.parameters) for t in agent.tools]
    return ModelRequest(instructions, transcript + step.inject, step.client_data, tools)


def chat_context(step: StepInput) -> ChatContext:
    """What an instructions function is told about the step's chat."""
    return ChatContext(
        chat_id=step.chat_id,
        agent=step.agent,
        owner=step.owner,
        client_data=step.client_data,
        inputs=step.inputs,
        resources=step.resources,
        turn=step.turn,
    )


async def step_request(agent: Agent, step: StepInput, transcript: list[UIMessage]) -> ModelRequest:
    """`model_request`, calling the agent's instructions function first if it has one."""
    if step.thread is None and agent.has_dynamic_instructions:
        instructions = await agent.instructions_for(chat_context(step))
        return model_request(agent, step, transcript, instructions)
    return model_request(agent, step, transcript)


async def _requested(
    agent: Agent, model: Model, step: StepInput, transcript: list[UIMessage]
) -> AsyncIterator[ModelEvent]:
    """The model's stream for a step whose instructions a function writes first."""
    async for event in model.stream(await step_request(agent, step, transcript)):
        yield event


@dataclass
class Prefetched:
    """A model stream begun for a step before its activity started."""

    agent: str
    transcript: list[UIMessage]
    stream: AsyncIterator[ModelEvent]
    first: asyncio.Task[ModelEvent]
    """Reads the stream's first event (the stream is not read past it until claimed)."""

    async def events(self) -> AsyncIterator[ModelEvent]:
        """The stream's events, from the first."""
        try:
            event = await self.first
        except StopAsyncIteration:
            return
        yield event
        async for event in self.stream:
            yield event

    async def discard(self) -> None:
        """Close the stream unused (its request is cancelled)."""
        self.first.cancel()
        await asyncio.wait({self.first})  # without raising its outcome, or taking our cancel
        if not self.first.cancelled():
            self.first.exception()  # retrieved: no "never retrieved" noise
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


@dataclass
class _Offer:
    step_json: str | None
    decided_at: float
    """Loop time at which the step counts as come back or gone elsewhere."""
    expiry: asyncio.TimerHandle
    prefetched: Prefetched | None = None


class StepPrefetch:
    """The steps a worker's workflows scheduled, and the model streams begun for them.

    Args:
        agents: The agents the worker serves, by name.
        transcripts: The worker's transcript cache (its LLM steps' own).
        admits: Whether the worker takes on a step now. When it does not, eager dispatch
            does not hand the step back and nothing is begun.
        ttl: Seconds a step is waited for before it counts as gone elsewhere (eager dispatch
            hands it back within milliseconds) and its stream, if begun, is closed.
        window: How many recent steps the hit rate is taken over.
        warmup: Steps seen claimed before the first prefetch.
        min_hit_rate: The share of recent steps claimed here that prefetching needs.
    """

    def __init__(
        self,
        agents: Mapping[str, Agent],
        transcripts: TranscriptCache,
        *,
        admits: Callable[[], bool] = lambda: True,
        ttl: float = 1.0,
        window: int = 50,
        warmup: int = 5,
        min_hit_rate: float = 0.9,
    ) -> None:
        self.agents = agents
        self.transcripts = transcripts
        self.admits = admits
        self.ttl = ttl
        self.warmup = warmup
        self.min_hit_rate = min_hit_rate
        self.enabled = False
        """Whether steps are prefetched now (read from workflow threads)."""
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._offers: dict[StepKey, _Offer] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve on `loop`, the worker's: its activities and model clients run there."""
        self._loop = loop

    def offer(self, key: StepKey, step_json: str | None) -> None:
        """Note a step workflow code just scheduled; with its input, begin its request.

        Called from a workflow thread; the work happens on the worker's loop.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._note, key, step_json)

    def _note(self, key: StepKey, step_json: str | None) -> None:
        loop = self._loop
        if loop is None:
            return
        known = self._offers.get(key)
        if known is not None:
            if step_json is None or step_json == known.step_json:
                return  # the same step again (a workflow task redone)
            # Redone with other input (a steer joined it meanwhile): begin that one instead.
            known.expiry.cancel()
            if known.prefetched is not None:
                self._close(known.prefetched)
        decided_at = loop.time() + self.ttl
        expiry = loop.call_at(decided_at, self._expire, key)
        self._offers[key] = _Offer(step_json, decided_at, expiry)
        if step_json is not None:
            loop.call_later(START_DELAY, self._begin, key, step_json)

    def _begin(self, key: StepKey, step_json: str) -> None:
        offer = self._offers.get(key)
        if offer is None or not self.enabled or not self.admits():
            return  # claimed already, steps went elsewhere lately, or it waits in the queue
        try:
            step = StepInput.model_validate_json(step_json)
            agent = self.agents.get(step.agent)
            if agent is None:
                return
            model = agent.model_for(step.model)
            if not getattr(model, "prefetchable", False):
                return
            try:
                transcript = self.transcripts.resolve(step)
            except ApplicationError:
                return  # not cached: the activity fails fast and the workflow resends it
            if has_files(transcript) or has_files(step.inject):
                return  # its files are read (and checked) by the activity: see .files
            if step.thread is None and agent.has_dynamic_instructions:
                stream = _requested(agent, model, step, transcript)
            else:
                stream = model.stream(model_request(agent, step, transcript))
            first = asyncio.ensure_future(anext(stream))
        except Exception:  # only ever an optimisation: the activity makes its own request
            log.warning("could not begin a step's model request early", exc_info=True)
            return
        offer.prefetched = Prefetched(agent.name, transcript, stream, first)

    def claim(self, step: StepInput, attempt: int) -> Prefetched | None:
        """The stream begun for `step`: for its first attempt, with this very input."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a worker made outside the loop that runs it
            self._loop = loop
        offer = self._offers.pop(step_key(step), None)
        if offer is None:
            return None
        offer.expiry.cancel()
        if attempt == 1:
            loop.call_at(offer.decided_at, self._count, True)
        prefetched = offer.prefetched
        if prefetched is None:
            return None
        if attempt != 1 or step.model_dump_json() != offer.step_json:
            self._close(prefetched)
            return None
        metrics.prefetch(prefetched.agent, "used")
        return prefetched

    def _expire(self, key: StepKey) -> None:
        offer = self._offers.pop(key, None)
        if offer is None:
            return
        self._count(False)
        if offer.prefetched is not None:
            self._close(offer.prefetched)

    def _count(self, hit: bool) -> None:
        self._outcomes.append(hit)
        seen = len(self._outcomes)
        self.enabled = seen >= self.warmup and sum(self._outcomes) >= self.min_hit_rate * seen

    def _close(self, prefetched: Prefetched) -> None:
        metrics.prefetch(prefetched.agent, "discarded")
        task = asyncio.ensure_future(prefetched.discard())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every unclaimed stream (the worker has stopped)."""
        for key in list(self._offers):
            offer = self._offers.pop(key)
            offer.expiry.cancel()
            if offer.prefetched is not None:
                self._close(offer.prefetched)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class PrefetchInterceptor(Interceptor):
    """Tells `prefetch` of every LLM step workflow code schedules (not when replaying)."""

    def __init__(self, prefetch: StepPrefetch) -> None:
        self.prefetch = prefetch

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        prefetch = self.prefetch

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
                step = input.args[0] if input.activity == LLM_STEP and input.args else None
                if isinstance(step, StepInput) and not workflow.unsafe.is_replaying():
                    try:
                        # A snapshot, taken here: the workflow goes on changing its messages.
                        snapshot = step.model_dump_json() if prefetch.enabled else None
                        prefetch.offer(step_key(step), snapshot)
                    except Exception:  # only ever an optimisation: never fail the task
                        log.warning("could not offer a step for prefetching", exc_info=True)
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound
