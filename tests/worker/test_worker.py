"""Worker start-up: models made before serving, the collector tuned for streaming."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from agentchat import Agent
from agentchat.connections import get_temporal
from agentchat.errors import ConfigurationError
from agentchat.settings import Settings
from agentchat.stream._store import StreamStore
from agentchat.worker import create_worker, run_worker
from agentchat.worker._worker import GC_THRESHOLDS, _prefetch_of


@pytest.fixture
def restore_gc() -> Iterator[None]:
    """run_worker tunes the whole process's collector: put it back for the other tests."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_a_model_that_cannot_be_made_fails_the_worker_naming_the_agent(
    settings: Settings, store: StreamStore
) -> None:
    client = await get_temporal(settings)
    agents = [Agent(name="fine", model="offline"), Agent(name="typo", model="gpt-4o")]
    with pytest.raises(ConfigurationError, match="agent 'typo': unknown model string 'gpt-4o'"):
        create_worker(client, store, agents, task_queue=settings.task_queue, settings=settings)


async def test_run_worker_finds_the_prefetch_it_closes_only_where_there_is_one(
    settings: Settings, store: StreamStore
) -> None:
    client = await get_temporal(settings)
    agents = [Agent(name="offline", model="offline")]
    with_it = create_worker(
        client, store, agents, task_queue=settings.task_queue, settings=settings
    )
    without = create_worker(
        client,
        store,
        agents,
        task_queue=settings.task_queue + "-b",
        settings=settings,
        prefetch_steps=False,
    )
    prefetch = _prefetch_of(with_it)
    assert prefetch is not None and "offline" in prefetch.agents
    assert _prefetch_of(without) is None


async def test_serving_starts_with_the_models_loaded_frozen_and_rare_full_collections(
    settings: Settings, restore_gc: None
) -> None:
    agent = Agent(name="gc", model="openai:m")
    stop, ready = asyncio.Event(), asyncio.Event()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        serving = asyncio.create_task(run_worker([agent], settings, stop=stop, ready=ready))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            # The model (and with it its SDK) was made before the freeze: out of every full
            # collection the worker will make.
            model = agent._model
            assert model is not None
            assert gc.is_tracked(model) and not any(o is model for o in gc.get_objects())
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold() == GC_THRESHOLDS
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)


async def test_a_worker_without_a_chat_store_refuses_to_start_naming_the_variable(
    settings: Settings, store: StreamStore
) -> None:
    import dataclasses

    without = dataclasses.replace(settings, database_url=None)
    agents = [Agent(name="offline", model="offline")]
    with pytest.raises(ConfigurationError, match="AGENTCHAT_DATABASE_URL"):
        await run_worker(agents, without)
    with pytest.raises(ConfigurationError, match="AGENTCHAT_DATABASE_URL"):
        create_worker(await get_temporal(settings), store, agents, settings=without)
    unknown = dataclasses.replace(settings, database_url="mysql://u:hunter2@db/chats")
    with pytest.raises(ConfigurationError, match="AGENTCHAT_DATABASE_URL") as info:
        await run_worker(agents, unknown)
    assert "hunter2" not in str(info.value)
