"""A worker process's lifetime: serve until SIGINT or SIGTERM, and drain on the first.

The first signal drains the worker (see `run_worker`): it polls no new tasks and running
steps get `shutdown_grace` seconds to finish before they move to another worker. A second
signal (an impatient Ctrl-C) stops it at once; Temporal retries its running steps elsewhere.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

from agentchat.agent import Agent
from agentchat.settings import Settings
from agentchat.worker._worker import run_worker

__all__ = ["STOP_SIGNALS", "serve_until_signalled"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve_until_signalled(
    agents: Sequence[Agent],
    settings: Settings,
    *,
    on_ready: Callable[[], None] | None = None,
) -> bool:
    """Serve `agents` until a stop signal; returns whether the worker drained.

    Takes over SIGINT and SIGTERM in the running event loop for as long as the loop runs.
    `on_ready` is called once the worker polls its task queue. Returns True once drained,
    False when a second signal stopped the worker without draining.

    Raises:
        AgentChatError: The worker could not start (Temporal or Redis unreachable, an
            agent's model misconfigured).
    """
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(run_worker(agents, settings, stop=stop, ready=ready))

    def on_signal() -> None:
        # The first signal drains; a second one (an impatient Ctrl-C) stops at once.
        if stop.is_set():
            task.cancel()
        else:
            stop.set()

    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    waiting = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set() and on_ready is not None:
            on_ready()
        await task
    except asyncio.CancelledError:
        this = asyncio.current_task()
        if not stop.is_set() or (this is not None and this.cancelling()):
            raise  # cancelled from outside, not by a second signal
        return False
    finally:
        waiting.cancel()
        task.cancel()  # a no-op once it has ended; else (on_ready failed) it must not linger
    return True
