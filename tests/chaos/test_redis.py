"""Redis SIGKILLed mid-turn and restarted on its port: on its append-only file, and empty."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable

import pytest

from agentchat import AgentChat
from tests.chaos.harness import (
    Plan,
    Report,
    Scenario,
    Script,
    lagging_reader,
    pick,
    timeout_for,
)
from tests.chaos.services import ChaosStack, WorkerPool

WORKERS = 2
LAG = 0.06
"""Seconds the lagging reader spends on each text chunk (the model sends one every 0.03 s)."""
# Bounded outages last 3.5-5 s, as in issue 18's report of answers cut short: answers finish
# while Redis is away, so their steps' last records must wait for it.
AOF_BOUNDED = Plan(chats=4, turns=4, faults=2, every=(2.0, 4.0), outage=(3.5, 5.0))
AOF_FULL = Plan(
    chats=6, turns=10, faults=12, every=(2.0, 5.0), outage=(1.0, 6.0), words=100, budget=600
)
EMPTY_BOUNDED = Plan(chats=4, turns=4, faults=2, every=(2.0, 4.0), outage=(3.5, 5.0))
EMPTY_FULL = Plan(
    chats=6, turns=8, faults=6, every=(3.0, 6.0), outage=(1.0, 6.0), words=100, budget=600
)


async def outages(
    name: str,
    plan: Plan,
    wipe: bool,
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    script: Script,
    chaos_rng: tuple[random.Random, int],
) -> Report:
    await workers.start_ready(WORKERS)
    rng, seed = chaos_rng

    async def restart_redis() -> None:
        chaos_stack.kill_redis()
        await asyncio.sleep(rng.uniform(*plan.outage))
        await asyncio.to_thread(chaos_stack.start_redis, wipe=wipe)

    run = uuid.uuid4().hex[:8]

    def chat(i: int) -> AgentChat:
        return AgentChat(
            "chaos",
            f"chaos-{name}-{run}-{i}",
            settings=chaos_stack.settings,
            stream_timeout=plan.stream_timeout,
        )

    chats = {f"c{i:02d}": chat(i) for i in range(plan.chats)}
    # A second reader per turn consumes slowly, so its cursor trails the writer: when Redis is
    # wiped, records it had not read yet go with the data (the first reader is rarely behind).
    lagging = lagging_reader({f"c{i:02d}": chat(i) for i in range(plan.chats)}, LAG)
    return await Scenario(name, plan, script, chats, restart_redis, rng, seed, lagging).run()


@pytest.mark.timeout(timeout_for(AOF_BOUNDED, AOF_FULL))
async def test_redis_sigkilled_and_restarted_on_its_append_only_file(
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    scripted: Callable[[Plan], Script],
    chaos_rng: tuple[random.Random, int],
    record_report: Callable[[Report], None],
) -> None:
    """Readers go silent while Redis is down, then resume from their last id; every word
    written before the kill is in the append-only file, and the rest follows."""
    plan = pick(AOF_BOUNDED, AOF_FULL)
    report = await outages(
        "redis-aof", plan, False, chaos_stack, workers, scripted(plan), chaos_rng
    )
    record_report(report)
    report.check()


@pytest.mark.timeout(timeout_for(EMPTY_BOUNDED, EMPTY_FULL))
async def test_redis_sigkilled_and_restarted_empty(
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    scripted: Callable[[Plan], Script],
    chaos_rng: tuple[random.Random, int],
    record_report: Callable[[Report], None],
) -> None:
    """The streams are gone with the data: readers finish from the transcript, the record of
    truth, and later turns stream into new streams."""
    plan = pick(EMPTY_BOUNDED, EMPTY_FULL)
    report = await outages(
        "redis-empty", plan, True, chaos_stack, workers, scripted(plan), chaos_rng
    )
    record_report(report)
    report.check()
