"""Prometheus metrics: a real turn with tools through an in-process worker, scraped over HTTP
from a real `start_metrics_server`."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentchat import Agent, AgentChat, metrics
from agentchat.errors import ConfigurationError
from agentchat.models import OfflineModel
from agentchat.testing.local import free_port
from agentchat.tools import tool
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


@tool
async def get_time() -> str:
    """The time."""
    return "noon"


@tool
async def explode(reason: str) -> str:
    """Fail on purpose.

    Args:
        reason: Why.
    """
    raise RuntimeError(f"boom: {reason}")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def server() -> Iterator[metrics.MetricsServer]:
    served = metrics.start_metrics_server(free_port(), "127.0.0.1")
    yield served
    served.close()


async def scrape(server: metrics.MetricsServer) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_a_turn_with_tools_moves_the_worker_metrics(
    server: metrics.MetricsServer, start_worker: StartWorker, new_chat: NewChat
) -> None:
    agent = f"metrics-{uuid.uuid4().hex[:8]}"  # the registry is process-wide: own series
    model = OfflineModel(tokens_per_second=0, first_token_delay=0.0)
    await start_worker(Agent(name=agent, model=model, tools=[get_time, explode]))
    before = await scrape(server)

    chat = new_chat(agent=agent)
    result = await (await chat.send_message("call get_time and explode now")).result()
    assert "noon" in result.text

    after = await scrape(server)
    assert value(after, "agentchat_turns_started_total", agent=agent) == 1
    assert value(after, "agentchat_turns_finished_total", agent=agent, status="completed") == 1
    assert (
        value(after, "agentchat_turn_duration_seconds_count", agent=agent, status="completed") == 1
    )
    # Two steps (tool calls, then the answer), each with a first token.
    assert value(after, "agentchat_time_to_first_token_seconds_count", agent=agent) == 2
    assert value(after, "agentchat_llm_steps_total", agent=agent, outcome="ok") == 2
    tool_ok = {"agent": agent, "tool": "get_time"}
    tool_failed = {"agent": agent, "tool": "explode"}
    assert value(after, "agentchat_tool_calls_total", **tool_ok, outcome="ok") == 1
    assert value(after, "agentchat_tool_calls_total", **tool_failed, outcome="error") == 1
    assert value(after, "agentchat_tool_errors_total", **tool_failed, kind="exception") == 1
    assert value(after, "agentchat_tool_call_duration_seconds_count", **tool_ok) == 1
    # Two steps (the first opens the turn), two tool results and the end: five appends at least.
    batches = value(after, "agentchat_stream_write_batches_total", outcome="ok") - value(
        before, "agentchat_stream_write_batches_total", outcome="ok"
    )
    assert batches >= 5
    entries = value(after, "agentchat_stream_write_batch_entries_sum") - value(
        before, "agentchat_stream_write_batch_entries_sum"
    )
    assert entries >= batches  # every counted batch holds at least one entry
    assert value(after, "agentchat_stream_write_duration_seconds_count") >= batches


async def test_a_stopped_turn_counts_as_stopped(
    server: metrics.MetricsServer, start_worker: StartWorker, new_chat: NewChat
) -> None:
    agent = f"metrics-{uuid.uuid4().hex[:8]}"
    model = OfflineModel(tokens_per_second=20, first_token_delay=0.0, words=200)
    await start_worker(Agent(name=agent, model=model))
    chat = new_chat(agent=agent)
    stream = await chat.send_message("talk for a while")
    async for chunk in stream:
        if chunk.type == "text-delta":
            await chat.stop()
            break
    for _ in range(100):  # the end record lands after the stop reaches the step
        samples = await scrape(server)
        if value(samples, "agentchat_turns_finished_total", agent=agent, status="stopped"):
            break
        await asyncio.sleep(0.1)
    assert value(samples, "agentchat_turns_finished_total", agent=agent, status="stopped") == 1
    assert value(samples, "agentchat_llm_steps_total", agent=agent, outcome="stopped") == 1


async def test_healthz_and_unknown_paths(server: metrics.MetricsServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        health = await http.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        assert (await http.get("/nope")).status_code == 404


async def test_healthz_reports_an_unhealthy_process() -> None:
    healthy = True
    served = metrics.start_metrics_server(0, "127.0.0.1", healthy=lambda: healthy)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            healthy = False
            assert (await http.get("/healthz")).status_code == 503
    finally:
        served.close()


def test_without_prometheus_client_recording_is_a_noop_and_serving_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "_metrics", None)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    assert metrics.enable() is False
    metrics.turn_started("x")  # no error, no effect
    metrics.stream_write(3, "ok", 0.001)
    with pytest.raises(ConfigurationError, match=r"pip install 'agentchat\[metrics\]'"):
        metrics.start_metrics_server(0)
    with pytest.raises(ConfigurationError, match="agentchat"):
        metrics.render()


def test_render_is_prometheus_text() -> None:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    assert b"# TYPE agentchat_turns_started_total counter" in body
