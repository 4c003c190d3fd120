"""The Temporal dev server SIGKILLed mid-turn and restarted on its SQLite database."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable

import pytest

from agentchat import AgentChat
from tests.chaos.harness import Plan, Report, Scenario, Script, pick, timeout_for
from tests.chaos.services import ChaosStack, WorkerPool

WORKERS = 2
BOUNDED = Plan(chats=4, turns=4, faults=2, every=(2.0, 4.0), outage=(1.0, 3.0))
FULL = Plan(chats=6, turns=10, faults=6, every=(4.0, 8.0), outage=(1.0, 5.0), words=100, budget=600)


@pytest.mark.timeout(timeout_for(BOUNDED, FULL))
async def test_temporal_sigkilled_and_restarted_on_its_database(
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    scripted: Callable[[Plan], Script],
    chaos_rng: tuple[random.Random, int],
    record_report: Callable[[Report], None],
) -> None:
    """While Temporal is away the running steps keep streaming into Redis; what needs the
    workflow (the turn's end, the next step, a new message) waits for it to come back, and
    every turn then finishes once, whole."""
    plan = pick(BOUNDED, FULL)
    script = scripted(plan)
    await workers.start_ready(WORKERS)
    rng, seed = chaos_rng

    async def restart_temporal() -> None:
        chaos_stack.kill_temporal()
        await asyncio.sleep(rng.uniform(*plan.outage))
        await asyncio.to_thread(chaos_stack.start_temporal)

    run = uuid.uuid4().hex[:8]
    chats = {
        f"c{i:02d}": AgentChat(
            "chaos",
            f"chaos-temporal-{run}-{i}",
            settings=chaos_stack.settings,
            stream_timeout=plan.stream_timeout,
        )
        for i in range(plan.chats)
    }
    report = await Scenario("temporal", plan, script, chats, restart_temporal, rng, seed).run()
    record_report(report)
    report.check()
