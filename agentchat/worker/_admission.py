"""Admission control: a worker takes on a new step only while its event loop keeps up.

Every running step of a worker streams on one event loop, in one process. Past what that loop
can serve, each step taken on slows all the others: tokens reach readers late, heartbeats miss
their deadline (so steps run twice), and the SDK's own polls, which hand the worker one task per
loop turn, starve until Temporal's timers fire. A step that is not admitted stays in the task
queue, where no timeout runs, until this worker or another has room: under overload chats wait
to start instead of stalling mid-answer.
"""

from __future__ import annotations

import asyncio
import time

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

__all__ = ["LoopLagSlots"]


class LoopLagSlots(CustomSlotSupplier):
    """Activity slots granted while the worker's event loop lags less than `max_lag`.

    Args:
        limit: The most slots held at once, however idle the loop.
        max_lag: Seconds the loop may run late (smoothed) and still take on work.
        floor: Slots granted whatever the lag, so a busy worker still makes progress (the
            SDK holds one per idle poller).
    """

    PROBE = 0.02
    """Seconds between two measurements of the loop's lag."""

    def __init__(self, limit: int, *, max_lag: float = 0.05, floor: int = 10) -> None:
        self.limit = limit
        self.max_lag = max_lag
        self.floor = floor
        self.held = 0
        self.lag = 0.0
        self._granted = 0.0
        self._wanted = 0  # reservations waiting for the gate
        self._watch: asyncio.Task[None] | None = None

    def admits(self) -> bool:
        """Whether one more slot may be granted now."""
        if self.held >= self.limit:
            return False
        if self.held < self.floor:
            return True
        # Past the floor, one new slot per probe: a step's cost shows in the lag only once
        # it streams, and a burst admitted on one quiet reading would overshoot.
        return self.lag <= self.max_lag and time.monotonic() - self._granted >= self.PROBE

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._measure(), name="agentchat loop lag")
        # Polled, not an Event: the lag changes with every probe, and Temporal's core may
        # release slots from outside the event loop.
        self._wanted += 1
        try:
            while not self.admits():  # noqa: ASYNC110
                await asyncio.sleep(self.PROBE)
        finally:
            self._wanted -= 1
        self._grant()
        return SlotPermit()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        # An eagerly dispatched step; refused, it waits in the task queue like any other.
        if not self.admits():
            return None
        self._grant()
        return SlotPermit()

    def _grant(self) -> None:
        self.held += 1
        self._granted = time.monotonic()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        pass

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        self.held -= 1

    async def _measure(self) -> None:
        # Until the worker has stopped (its pollers hold slots while it runs): a stopped
        # worker's probe would wake the loop 50 times a second for good.
        loop = asyncio.get_running_loop()
        while self.held or self._wanted:
            started = loop.time()
            await asyncio.sleep(self.PROBE)
            late = loop.time() - started - self.PROBE
            # Rises at once and falls back over a few probes: one quiet moment in a busy
            # loop does not reopen the gate to a burst of new steps.
            self.lag = max(late, self.lag * 0.7)
