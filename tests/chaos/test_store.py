"""The chat store's database (PostgreSQL) SIGKILLed mid-turn and restarted on its data."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable

import pytest

from agentchat import AgentChat
from agentchat.connections import get_store
from tests.chaos.harness import Plan, Report, Scenario, Script, history_of, pick, timeout_for
from tests.chaos.services import ChaosStack, WorkerPool

WORKERS = 2
# Outages past a turn's end: its write waits for the database, and so does its end record.
BOUNDED = Plan(chats=4, turns=4, faults=2, every=(2.0, 4.0), outage=(2.0, 4.0))
FULL = Plan(chats=6, turns=10, faults=10, every=(2.0, 5.0), outage=(1.0, 8.0), budget=600)


@pytest.mark.timeout(timeout_for(BOUNDED, FULL))
async def test_the_chat_store_sigkilled_and_restarted_mid_turn(
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    scripted: Callable[[Plan], Script],
    chaos_rng: tuple[random.Random, int],
    record_report: Callable[[Report], None],
) -> None:
    """Streams go on while the database is away; each turn's end waits for its write, so a
    reader that saw the end finds the turn stored, once, whatever happened."""
    plan = pick(BOUNDED, FULL)
    chaos_stack.use_postgres()
    workers.settings = chaos_stack.settings
    await workers.start_ready(WORKERS)
    rng, seed = chaos_rng

    async def restart_database() -> None:
        chaos_stack.kill_database()
        await asyncio.sleep(rng.uniform(*plan.outage))
        await asyncio.to_thread(chaos_stack.start_database)

    run = uuid.uuid4().hex[:8]
    chats = {
        f"c{i:02d}": AgentChat(
            "chaos",
            f"chaos-store-{run}-{i}",
            settings=chaos_stack.settings,
            stream_timeout=plan.stream_timeout,
        )
        for i in range(plan.chats)
    }
    script = scripted(plan)
    report = await Scenario("store", plan, script, chats, restart_database, rng, seed).run()
    record_report(report)
    report.check()

    # The store holds every turn exactly as the transcript has it: none lost, none twice.
    store = await get_store(chaos_stack.settings)
    for chat in chats.values():
        await chat.close(wait=True)
        rows = await store.load_messages(chat.id)
        history = await history_of(chat)
        assert [r.position for r in rows] == list(range(len(rows)))
        assert [r.message["id"] for r in rows] == [m.id for m in history]
        assert len(rows) == 2 * plan.turns
