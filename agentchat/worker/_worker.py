"""Run a worker: the chat workflow and its activities for a set of agents."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import temporalio
from temporalio.client import Client
from temporalio.worker import (
    FixedSizeSlotSupplier,
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkerTuner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agentchat.activities.chat import ChatActivities
from agentchat.activities.prefetch import PrefetchInterceptor, StepPrefetch
from agentchat.activities.store import open_legacy_window
from agentchat.agent import Agent
from agentchat.connections import get_redis, get_store, get_temporal, require_database_url
from agentchat.errors import ConfigurationError
from agentchat.settings import Settings
from agentchat.stream._store import Retention, StreamStore
from agentchat.worker._admission import LoopLagSlots
from agentchat.worker._registry import register_agents
from agentchat.worker._retention import ensure_retention_schedule
from agentchat.workflows import ChatWorkflow, DeleteChatWorkflow, RetentionWorkflow

__all__ = ["create_worker", "run_worker"]

log = logging.getLogger("agentchat.worker")

HEARTBEAT_THROTTLE = timedelta(seconds=1)
"""The most time between two heartbeats a step sends Temporal (the SDK's own is 80% of the
heartbeat timeout). Once a second, with `Agent.step_heartbeat`'s 2 s default, a live step's
heartbeat still has a second to spare, and a crashed worker's step timed out 1.6 s after the
kill on average (2.3-2.4 s with 3 s and every 1.5 s; Temporal fires the timeout ~0.5 s past
its deadline), measured by `bench/recovery.py`. 300 and 1,000 chats sent at once to one
worker retried no step."""
WORKFLOW_TASKS = 2
"""Workflow tasks a worker holds at once, one thread each; more wait in Temporal (the sticky
queue hands a chat's task to another worker after `STICKY_TIMEOUT`). As many threads as
tasks: time an activation spends queued for a thread counts against the SDK's 2 s deadlock
detector."""
STICKY_TIMEOUT = timedelta(seconds=2)
"""How long a chat's workflow task waits for the worker that holds the chat before another
worker takes it (and replays the history). A worker that died holds its chats that long: a
step retried on a worker without the transcript, a step that ended on another worker, or a
message, waits for it (`bench/recovery.py`: 1.4-1.6 s of a recovery's 5.2-5.3 s on average
at 3 s, 0.8-0.9 s at 2 s). Shorter, a loaded worker loses chats it holds to replays: 300 chats
sent at once to one worker timed out 50 tasks on average at 3 s (three runs), 56 at 2 s (five),
82 at 1 s (four)."""

GC_THRESHOLDS = (700, 10, 100)
"""The collector's thresholds in a serving worker: a full collection after 100 collections of
the middle generation, not Python's default 10. A full collection walks every cached workflow
(some 350 objects each) and stops the event loop that streams every running step while it
does: under 300 streaming chats they came every 8 to 20 s at 50 to 200 ms each and made the
whole tail of the delivery delay. Now they come minutes apart (one in four minutes of the
bench's concurrency rows); the young collections, at most 10 to 20 ms, are unchanged.
Garbage in reference cycles that outlived them is freed that much later."""


def build_id() -> str:
    """What identifies this worker's code to Temporal: agentchat's and temporalio's versions
    and a digest of the workflow code (`agentchat/workflows`, `agentchat/protocol`).

    Left unset, the SDK hashes the bytecode of every module loaded (some 1,500 here), which
    compiles each one again where no bytecode cache was written (`PYTHONDONTWRITEBYTECODE`,
    read-only installs): 1.3 to 3.9 s of every worker's start, measured, while a crashed
    worker's chats wait for a live one. Temporal records it with every workflow task; nothing
    replays on it.
    """
    from agentchat import __version__

    package = Path(__file__).resolve().parent.parent
    digest = hashlib.md5(usedforsecurity=False)
    for folder in ("workflows", "protocol"):
        for source in sorted((package / folder).glob("*.py")):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
    return f"agentchat-{__version__}-temporalio-{temporalio.__version__}-{digest.hexdigest()[:12]}"


def create_worker(
    client: Client,
    store: StreamStore,
    agents: Sequence[Agent],
    *,
    task_queue: str = "agentchat",
    settings: Settings | None = None,
    max_concurrent_activities: int = 500,
    max_loop_lag: float | None = None,
    graceful_shutdown: timedelta | None = None,
    workflow_sandbox: bool = False,
    prefetch_steps: bool = True,
) -> Worker:
    """A Temporal `Worker` serving `agents` on `task_queue`.

    Workflows and activities share the task queue so the LLM step is dispatched eagerly with
    the workflow task that schedules it (one round trip less before the first token).

    Each agent's model is resolved here, so a misconfigured one (an unknown model string, no
    API key) fails now, naming the agent, rather than in the first chat's step. The models
    open HTTP connections on first use: once the worker has stopped, `await agent.aclose()`
    each agent (`run_worker` does).

    Args:
        client: The Temporal client (its interceptors, e.g. tracing, apply to the worker).
        store: Where the activities publish chunks.
        agents: The agents this worker serves.
        task_queue: The task queue shared by every worker of these agents.
        settings: Connection settings handed to tools that open chats of their own.
        max_concurrent_activities: LLM steps and tool calls running at once, at most.
        max_loop_lag: Seconds the worker's event loop may lag (smoothed) and still take on a
            new step or tool call; past it, new ones wait in the task queue (no timeout runs
            there) until this or another worker has room. Default: the settings'
            `worker_max_lag` (`AGENTCHAT_WORKER_MAX_LAG`, 0.02).
        graceful_shutdown: How long in-flight steps may run on after shutdown begins before
            they are cancelled and retried on another worker (default: the settings'
            `shutdown_grace`).
        workflow_sandbox: Run workflows in Temporal's sandbox, which fails any restricted
            call (the wall clock, I/O) in workflow code. The test suite does; it costs a
            worker 40% of its time per workflow task, so production workers do not.
        prefetch_steps: Send each LLM step's model request while Temporal records the step,
            for its activity to take over (see `agentchat.activities.prefetch`); only while
            this worker's steps keep coming back to it. Made inside the event loop that runs
            the worker, as `run_worker` does; made elsewhere, it starts with the first step.

    Raises:
        ConfigurationError: An agent's model cannot be made (the message names the agent).
    """
    settings = settings or Settings()
    require_database_url(settings, "a worker")
    if graceful_shutdown is None:
        graceful_shutdown = timedelta(seconds=settings.shutdown_grace)
    if max_loop_lag is None:
        max_loop_lag = settings.worker_max_lag
    for agent in agents:
        try:
            agent.resolved_model()
            for thread in agent.threads().values():
                agent.model_for(thread.model)  # a thread's bad model fails here too
        except ConfigurationError as exc:
            raise ConfigurationError(f"agent {agent.name!r}: {exc}") from exc
    # MCP tools: the workflow's spec needs them listed (run_worker awaits load_tools).
    for agent in agents:
        agent.check_tools_loaded()
    activities = ChatActivities(store, client, list(agents), settings)
    slots = LoopLagSlots(max_concurrent_activities, max_lag=max_loop_lag)
    interceptors: list[Interceptor] = []
    if prefetch_steps:
        activities.prefetch.admits = slots.admits
        with contextlib.suppress(RuntimeError):  # no running loop: bound at the first step
            activities.prefetch.bind(asyncio.get_running_loop())
        interceptors.append(PrefetchInterceptor(activities.prefetch))
    return Worker(
        client,
        task_queue=task_queue,
        # Cheap to make, unlike the SDK's default (see build_id).
        build_id=build_id(),
        workflows=[ChatWorkflow, DeleteChatWorkflow, RetentionWorkflow],
        activities=activities.all(),
        tuner=WorkerTuner.create_composite(
            # New steps only while the event loop keeps up (see agentchat.worker._admission).
            activity_supplier=slots,
            local_activity_supplier=FixedSizeSlotSupplier(max_concurrent_activities),
            workflow_supplier=FixedSizeSlotSupplier(WORKFLOW_TASKS),
            nexus_supplier=FixedSizeSlotSupplier(1),
        ),
        # Workflow tasks are pure Python holding the GIL: each extra thread only takes turns
        # from the event loop that streams every running step (the SDK's default is 500
        # threads, which in a burst of new chats stalls streaming for seconds).
        workflow_task_executor=ThreadPoolExecutor(WORKFLOW_TASKS, "agentchat-workflow"),
        # A worker that died holds its chats' sticky queues this long; keep chats responsive.
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        # The SDK sends a heartbeat at most every 80% of the heartbeat timeout, which would
        # leave a step 0.4 s to spare with the 2 s default (see HEARTBEAT_THROTTLE).
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        graceful_shutdown_timeout=graceful_shutdown,
        interceptors=interceptors,
        # The sandboxed runner runs code inside the sandbox for each payload of every
        # activation (to find its serialization context): 40% of the worker's time per update
        # and 2 to 4 ms of every turn's first token, on the event loop that streams every
        # step. The tests and replays run in the full sandbox instead.
        workflow_runner=SandboxedWorkflowRunner()
        if workflow_sandbox
        else UnsandboxedWorkflowRunner(),
    )


def _prefetch_of(worker: Worker) -> StepPrefetch | None:
    """The worker's step prefetch, if it has one (to close its unclaimed streams)."""
    for interceptor in worker.config().get("interceptors", ()):
        if isinstance(interceptor, PrefetchInterceptor):
            return interceptor.prefetch
    return None


async def run_worker(
    agents: Sequence[Agent],
    settings: Settings | None = None,
    *,
    retention: Retention | None = None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Connect with `settings` and serve `agents` until `stop` is set (or forever).

    Once `stop` is set the worker drains: it polls no new tasks, lets running steps finish
    for up to `settings.shutdown_grace` seconds, then cancels what is left, which Temporal
    retries on another worker (the stream's attempt fencing drops the partial output).

    Before serving it tunes the process's garbage collector for streaming: `gc.freeze()`
    keeps what the process loaded so far out of full collections for good, and
    `gc.set_threshold(GC_THRESHOLDS)` makes full collections rare (each pauses the event loop
    that streams every running step, 200 ms and more with hundreds of chats cached).
    """
    settings = settings or Settings()
    client = await get_temporal(settings)
    redis = await get_redis(settings, check=True)
    require_database_url(settings, "a worker")
    # MCP tools: list each server's tools before serving; an unreachable one fails the start.
    for agent in agents:
        await agent.load_tools()
    await register_agents(redis, agents, settings.task_queue)  # GET /v1/agents/{agent}
    metrics_server = None
    if settings.metrics_port:
        from agentchat.metrics import start_metrics_server

        metrics_server = start_metrics_server(settings.metrics_port)
        log.info("metrics and /healthz on :%d", settings.metrics_port)
    retention = retention or Retention(idle_ttl_seconds=settings.stream_idle_ttl)
    worker = create_worker(
        client,
        StreamStore(redis, retention),
        agents,
        task_queue=settings.task_queue,
        settings=settings,
    )
    log.info(
        "worker serving %s on task queue %r", ", ".join(a.name for a in agents), settings.task_queue
    )
    # Everything loaded so far (modules, the models' SDKs, the worker) lives as long as the
    # process: out of the collector's sight, a full collection only walks what chats allocate.
    # Before this, one took up to 170 ms of a busy worker's event loop, stalling every stream.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        async with worker:
            if ready is not None:
                ready.set()
            # Opened once the worker polls: a crashed worker's chats wait for its replacement,
            # and what a retried step or a replay needs is not the store (SQLAlchemy's import
            # and the schema check took ~1 s of every start; activities that need the store
            # wait for this same opening). A store that cannot be opened still stops the
            # worker, naming why.
            chats = await get_store(settings, who="a worker")
            await open_legacy_window(chats, client, settings.temporal_namespace)
            await ensure_retention_schedule(client, agents, settings)
            await (stop.wait() if stop is not None else asyncio.Event().wait())
            log.info(
                "worker draining: running steps get up to %gs to finish", settings.shutdown_grace
            )
    finally:
        if metrics_server is not None:
            metrics_server.close()
        prefetch = _prefetch_of(worker)
        if prefetch is not None:
            await prefetch.aclose()
        for agent in agents:
            try:
                await agent.aclose()
            except Exception:  # the worker has stopped: say so, close the others
                log.warning("closing agent %r's model failed", agent.name, exc_info=True)
    log.info("worker stopped")
