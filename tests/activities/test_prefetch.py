"""Model requests sent while Temporal records their step: against a real loopback model server,
and through a real worker, Temporal and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from agentchat import Agent, AgentChat, metrics
from agentchat.activities.prefetch import StepPrefetch, step_key
from agentchat.activities.transcripts import TranscriptCache
from agentchat.models import ModelRequest
from agentchat.models.base import ModelEvent, StepFinish, TextDelta
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.contracts import StepInput
from agentchat.protocol.messages import user_message
from agentchat.testing import FakeOpenAIServer
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]
TTL = 0.5


def a_step(turn: int, text: str = "hi") -> StepInput:
    return StepInput(
        chat_id="c",
        agent="echo",
        turn=turn,
        step=1,
        message_id=f"a-{turn}",
        transcript=[user_message(text, f"u-{turn}")],
    )


async def offered(prefetch: StepPrefetch, step: StepInput, *, with_input: bool = True) -> None:
    """As the workflow interceptor does: from another thread, then the loop takes it."""
    snapshot = step.model_dump_json() if with_input else None
    await asyncio.to_thread(prefetch.offer, step_key(step), snapshot)
    await asyncio.sleep(0.01)  # past START_DELAY: a request, if any, is under way


async def requests_reach(server: FakeOpenAIServer, count: int) -> None:
    for _ in range(200):
        if len(server.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the model server got {len(server.requests)} requests, not {count}")


@pytest.fixture
async def prefetch(model_server: FakeOpenAIServer) -> AsyncIterator[StepPrefetch]:
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    agent = Agent(name="echo", model=model)
    async for _ in model.stream(ModelRequest(None, [user_message("warm", "w")])):
        pass  # the client and its connection exist: early requests go out in milliseconds
    model_server.requests.clear()
    made = StepPrefetch({"echo": agent}, TranscriptCache(), ttl=TTL, window=4, warmup=2)
    made.bind(asyncio.get_running_loop())
    yield made
    await made.aclose()
    await agent.aclose()


async def warm_up(prefetch: StepPrefetch) -> None:
    assert not prefetch.enabled  # a new worker first sees its steps come back
    for turn in (101, 102):  # steps that came back: counted, nothing requested
        await offered(prefetch, a_step(turn), with_input=False)
        assert prefetch.claim(a_step(turn), attempt=1) is None
    assert not prefetch.enabled  # a step counts once its ttl is over, hit or miss alike
    await asyncio.sleep(TTL + 0.1)
    assert prefetch.enabled


async def test_a_step_that_comes_back_takes_over_the_request_already_sent(
    prefetch: StepPrefetch, model_server: FakeOpenAIServer
) -> None:
    await warm_up(prefetch)
    await offered(prefetch, a_step(1, "early"))
    await requests_reach(model_server, 1)  # sent before any activity asked for it
    taken = prefetch.claim(a_step(1, "early"), attempt=1)
    assert taken is not None
    text = "".join([e.text async for e in taken.events() if isinstance(e, TextDelta)])
    assert text == "Echo: early"
    assert [m.text() for m in taken.transcript] == ["early"]
    assert len(model_server.requests) == 1  # and never sent again


async def test_a_retry_does_not_take_over_and_the_early_stream_is_closed(
    prefetch: StepPrefetch, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.05  # still streaming when it is closed
    await warm_up(prefetch)
    await offered(prefetch, a_step(1))
    await requests_reach(model_server, 1)
    early = prefetch._offers[step_key(a_step(1))].prefetched
    assert early is not None
    assert prefetch.claim(a_step(1), attempt=2) is None
    await prefetch.aclose()
    assert early.stream.ag_frame is None  # type: ignore[attr-defined]  # closed


async def test_a_step_redone_with_other_input_never_gets_the_stream_begun_for_the_old(
    prefetch: StepPrefetch, model_server: FakeOpenAIServer
) -> None:
    await warm_up(prefetch)
    await offered(prefetch, a_step(1, "before the steer"))
    await requests_reach(model_server, 1)
    first = prefetch._offers[step_key(a_step(1))].prefetched
    await offered(prefetch, a_step(1, "after the steer"))  # same step, a task redone
    await requests_reach(model_server, 2)
    assert first is not None and first.stream.ag_frame is None  # type: ignore[attr-defined]
    taken = prefetch.claim(a_step(1, "after the steer"), attempt=1)
    assert taken is not None and [m.text() for m in taken.transcript] == ["after the steer"]
    await offered(prefetch, a_step(2, "offered"))
    await requests_reach(model_server, 3)
    assert prefetch.claim(a_step(2, "started with other input"), attempt=1) is None


async def test_steps_that_run_elsewhere_are_closed_unused_and_stop_the_prefetching(
    prefetch: StepPrefetch, model_server: FakeOpenAIServer
) -> None:
    await warm_up(prefetch)
    await offered(prefetch, a_step(1))
    await requests_reach(model_server, 1)
    early = prefetch._offers[step_key(a_step(1))].prefetched
    assert early is not None
    await asyncio.sleep(TTL + 0.2)  # no activity claimed it here
    assert early.stream.ag_frame is None  # type: ignore[attr-defined]
    assert not prefetch.enabled  # one step in three came back: below the hit rate
    await offered(prefetch, a_step(2))
    await asyncio.sleep(0.2)
    assert len(model_server.requests) == 1  # noted, not requested
    assert prefetch.claim(a_step(2), attempt=1) is None


async def test_nothing_is_sent_early_for_a_step_the_worker_would_not_take_on(
    prefetch: StepPrefetch, model_server: FakeOpenAIServer
) -> None:
    await warm_up(prefetch)
    prefetch.admits = lambda: False
    await offered(prefetch, a_step(1))
    await asyncio.sleep(0.2)
    assert model_server.requests == []
    assert prefetch.claim(a_step(1), attempt=1) is None


class TaskBoundModel:
    """A model whose stream may not change tasks (it does not say `prefetchable`)."""

    name = "task-bound"

    def __init__(self) -> None:
        self.streams = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.streams += 1
        yield TextDelta("hi")
        yield StepFinish("stop")


async def test_a_model_that_does_not_say_it_may_change_tasks_is_never_sent_early() -> None:
    model = TaskBoundModel()
    prefetch = StepPrefetch(
        {"echo": Agent(name="echo", model=model)}, TranscriptCache(), ttl=TTL, warmup=1
    )
    prefetch.bind(asyncio.get_running_loop())
    await offered(prefetch, a_step(100), with_input=False)
    prefetch.claim(a_step(100), attempt=1)
    await asyncio.sleep(TTL + 0.1)
    assert prefetch.enabled
    await offered(prefetch, a_step(1))
    await asyncio.sleep(0.1)
    assert model.streams == 0 and prefetch.claim(a_step(1), attempt=1) is None


async def test_a_worker_sends_each_step_once_and_early_once_its_steps_come_back(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    if not metrics.enable():
        pytest.skip("needs prometheus-client (the metrics extra)")
    from prometheus_client import REGISTRY

    name = f"prefetch-{uuid.uuid4().hex[:8]}"  # the registry is process-wide: own series
    await start_worker(Agent(name=name, model=OpenAIModel("m", base_url=model_server.base_url)))
    chat = new_chat(agent=name)
    for i in range(5):  # the worker's first five steps show it that they come back
        assert await (await chat.send_message(f"n{i}")).text() == f"Echo: n{i}"
    await asyncio.sleep(1.2)  # a step counts once its ttl (1 s) is over
    for i in range(5, 8):
        assert await (await chat.send_message(f"n{i}")).text() == f"Echo: n{i}"
    assert len(model_server.requests) == 8  # none sent twice
    contents = [m["content"] for m in model_server.requests[-1]["messages"]]
    assert contents[-3:] == ["n6", "Echo: n6", "n7"]

    def count(outcome: str) -> float:
        labels = {"agent": name, "outcome": outcome}
        return REGISTRY.get_sample_value("agentchat_llm_prefetches_total", labels) or 0.0

    assert count("used") == 3 and count("discarded") == 0
