"""Admission control: new steps only while the worker's event loop keeps up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentchat.worker._admission import LoopLagSlots

CTX: Any = None  # the suppliers never read the SDK's context


def test_the_floor_is_granted_whatever_the_lag() -> None:
    slots = LoopLagSlots(10, max_lag=0.05, floor=2)
    slots.lag = 5.0
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.try_reserve_slot(CTX) is None  # past the floor, the lag decides
    assert slots.held == 2


def test_past_the_floor_one_slot_per_probe_while_the_loop_keeps_up() -> None:
    slots = LoopLagSlots(10, max_lag=0.05, floor=0)
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.try_reserve_slot(CTX) is None  # a burst waits for the lag to show
    time.sleep(slots.PROBE)
    assert slots.try_reserve_slot(CTX) is not None


def test_the_limit_holds_and_a_release_frees_a_slot() -> None:
    slots = LoopLagSlots(1, floor=5)
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.try_reserve_slot(CTX) is None
    slots.release_slot(CTX)
    assert slots.try_reserve_slot(CTX) is not None


async def test_a_reservation_waits_while_the_loop_lags_and_goes_through_after() -> None:
    slots = LoopLagSlots(10, max_lag=0.05, floor=0)
    await slots.reserve_slot(CTX)  # starts the lag probe

    def block() -> None:
        time.sleep(0.2)  # the loop runs 200 ms late: what a saturated worker looks like

    asyncio.get_running_loop().call_soon(block)
    await asyncio.sleep(0.05)
    assert slots.lag > 0.1
    waiting = asyncio.ensure_future(slots.reserve_slot(CTX))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await asyncio.wait_for(waiting, 5)  # the lag decays once the loop is quiet again
    assert slots.held == 2 and slots.lag <= 0.05
    probe = slots._watch
    assert probe is not None and not probe.done()
    slots.release_slot(CTX)
    slots.release_slot(CTX)  # a stopped worker holds none: its probe stops too
    await asyncio.wait_for(probe, 1)
