"""Workers SIGKILLed at random while chats stream: every turn moves to a live worker."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

import pytest

from agentchat import AgentChat
from tests.chaos.harness import Plan, Report, Scenario, Script, pick, timeout_for
from tests.chaos.services import ChaosStack, WorkerPool

WORKERS = 2
BOUNDED = Plan(chats=4, turns=5, faults=8, every=(3.0, 6.0))
FULL = Plan(chats=10, turns=10, faults=1000, every=(3.0, 6.0), words=100, budget=600)


@pytest.mark.timeout(timeout_for(BOUNDED, FULL))
async def test_workers_sigkilled_at_random(
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    scripted: Callable[[Plan], Script],
    chaos_rng: tuple[random.Random, int],
    record_report: Callable[[Report], None],
) -> None:
    """A worker is SIGKILLed every few seconds, always while some reader is mid-answer, and
    a new one started in its place: no turn is lost, doubled or cut short."""
    plan = pick(BOUNDED, FULL)
    script = scripted(plan)
    await workers.start_ready(WORKERS)
    rng, seed = chaos_rng

    async def kill_a_worker() -> None:
        workers.kill_one(rng)

    run = uuid.uuid4().hex[:8]
    chats = {
        f"c{i:02d}": AgentChat(
            "chaos",
            f"chaos-workers-{run}-{i}",
            settings=chaos_stack.settings,
            stream_timeout=plan.stream_timeout,
        )
        for i in range(plan.chats)
    }
    scenario = Scenario("workers", plan, script, chats, kill_a_worker, rng, seed)
    report = await scenario.run()
    record_report(report)
    report.check()
