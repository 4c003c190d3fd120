"""OpenTelemetry tracing: one trace from the client's call through the workflow to its
activities, on the real Temporal dev server, with an in-memory span exporter."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter

from agentchat import Agent, AgentChat, Settings
from agentchat.connections import get_redis
from agentchat.errors import ConfigurationError
from agentchat.models import OfflineModel
from agentchat.stream._store import StreamStore
from agentchat.tools import tool
from agentchat.tracing import client_interceptors, configure_tracing, tracing_enabled
from agentchat.worker import create_worker
from tests.conftest import ROOT


@tool
async def get_time() -> str:
    """The time."""
    return "noon"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of the process-wide tracer provider (installed here unless one exists)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_a_turn_is_one_trace_from_client_to_activities(
    settings: Settings, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTCHAT_TRACING", "otel")
    interceptors = client_interceptors()
    assert [type(i) for i in interceptors] == [TracingInterceptor]
    client = await Client.connect(
        settings.temporal_address,
        interceptors=interceptors,
        data_converter=pydantic_data_converter,
    )
    agent = Agent(
        name="traced",
        model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
        tools=[get_time],
    )
    # A worker built from the client inherits its interceptors: no worker option needed.
    worker = create_worker(
        client,
        StreamStore(await get_redis(settings)),
        [agent],
        task_queue=settings.task_queue,
        settings=settings,
    )
    spans.clear()
    async with worker:
        chat = AgentChat(agent="traced", id=f"trace-{uuid.uuid4().hex[:8]}", settings=settings)

        async def traced() -> Client:
            # The shared clients are created without tracing unless the environment asked
            # for it when they connected: this chat uses the traced one.
            return client

        monkeypatch.setattr(chat._backend, "_temporal", traced)
        result = await (await chat.send_message("what is get_time?")).result()
        assert "noon" in result.text
    finished = spans.get_finished_spans()
    # send_message is an update-with-start: the client's span is the trace's root.
    roots = [s for s in finished if s.name.startswith("StartUpdateWithStartWorkflow:")]
    assert len(roots) == 1, [s.name for s in finished]
    assert roots[0].parent is None
    trace_id = roots[0].context.trace_id
    in_trace = {s.name for s in finished if s.context.trace_id == trace_id}
    for name in (
        "RunWorkflow:agentchat.Chat",
        "HandleUpdate:send",
        "StartActivity:agentchat.llm_step",
        "RunActivity:agentchat.llm_step",
        "RunActivity:agentchat.tool_call",
        "RunActivity:agentchat.turn_end",
    ):
        assert name in in_trace, (name, sorted(in_trace))


def test_tracing_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTCHAT_TRACING", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing_enabled() and client_interceptors() == []
    assert configure_tracing() is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_enabled()
    monkeypatch.setenv("AGENTCHAT_TRACING", "off")  # wins over the endpoint
    assert not tracing_enabled()
    monkeypatch.setenv("AGENTCHAT_TRACING", "jaeger")
    with pytest.raises(ConfigurationError, match="AGENTCHAT_TRACING"):
        tracing_enabled()


def test_asking_for_tracing_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTCHAT_TRACING", "otel")
    monkeypatch.setitem(sys.modules, "temporalio.contrib.opentelemetry", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'agentchat\[otel\]'"):
        client_interceptors()


def test_configure_tracing_installs_a_provider_from_the_otel_variables() -> None:
    # A fresh process: the global tracer provider can be set only once per process.
    code = (
        "from opentelemetry import trace\n"
        "from agentchat.tracing import configure_tracing\n"
        "assert configure_tracing('svc-default')\n"
        "provider = trace.get_tracer_provider()\n"
        "print(provider.resource.attributes['service.name'])\n"
        "with trace.get_tracer('t').start_as_current_span('hello-span'):\n"
        "    pass\n"
        "provider.shutdown()\n"
    )
    env = {
        **os.environ,
        "AGENTCHAT_TRACING": "otel",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "svc-from-env",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "svc-from-env"
    assert '"name": "hello-span"' in done.stdout
